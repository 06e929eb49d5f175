from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("alerts/unrouted/", views.unrouted, name="unrouted"),
    path("<int:incident_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:incident_id>/assign/", views.assign, name="assign"),
    path("<int:incident_id>/notes/", views.note, name="note"),
]
