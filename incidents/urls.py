from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("alerts/unrouted/", views.unrouted, name="unrouted"),
    path("runbooks/<slug:key>/<slug:slug>/start/", views.start, name="start"),
    path("<int:incident_id>/", views.detail, name="incident"),
    path("<int:incident_id>/steps/", views.steps, name="steps"),
    path("<int:incident_id>/steps/<int:number>/", views.step, name="step"),
    path("<int:incident_id>/close/", views.close, name="close"),
    path("<int:incident_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:incident_id>/assign/", views.assign, name="assign"),
    path("<int:incident_id>/notes/", views.note, name="note"),
]
