from django.urls import path

from incidents.api import views

app_name = "incidents-api"

urlpatterns = [
    path("alertmanager/", views.AlertmanagerReceiver.as_view(), name="alertmanager"),
    path("<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="acknowledge"),
    path("<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
]
