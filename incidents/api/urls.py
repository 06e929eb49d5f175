from django.urls import path
from rest_framework.routers import SimpleRouter

from incidents.api import views

app_name = "incidents-api"

# The incidents themselves at the top: /api/incidents/, /api/incidents/<id>/, .../steps/, .../close/.
router = SimpleRouter()
router.register("", views.IncidentViewSet, basename="incident")

urlpatterns = [
    path("alertmanager/", views.AlertmanagerReceiver.as_view(), name="alertmanager"),
    path("<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="acknowledge"),
    path("<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
    *router.urls,
]
