"""``/api/knowledge/incidents/...``, where the incidents API was before incidents had their own app:
308 to ``/api/incidents/...``, so a client's POST keeps its method and body (see incidents.legacy_urls)."""

from django.urls import path

from incidents.legacy_urls import moved

app_name = "incidents-api-moved"

urlpatterns = [
    path("incidents/", moved("incidents-api:incident-list", api=True), name="list"),
    path("incidents/<int:pk>/", moved("incidents-api:incident-detail", api=True), name="detail"),
    path("incidents/<int:pk>/steps/", moved("incidents-api:incident-steps", api=True), name="steps"),
    path("incidents/<int:pk>/close/", moved("incidents-api:incident-close", api=True), name="close"),
]
