from django.urls import path

from pipelines import views

app_name = "pipelines"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("entity/<str:kind>/<str:namespace>/<str:name>/", views.entity_dashboard, name="entity"),
    path("entity/<str:kind>/<str:namespace>/<str:name>/dora/", views.entity_dora, name="entity-dora"),
    path("team/<str:namespace>/<str:name>/", views.team_dashboard, name="team"),
    path("team/<str:namespace>/<str:name>/dora/", views.team_dora, name="team-dora"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/new/", views.integration_create, name="integration-create"),
    path("integrations/<int:integration_id>/", views.integration_detail, name="integration"),
    path("integrations/<int:integration_id>/scope/", views.integration_scope, name="integration-scope"),
    path("integrations/<int:integration_id>/secret/", views.integration_secret, name="integration-secret"),
    path("integrations/<int:integration_id>/rotate/", views.integration_rotate, name="integration-rotate"),
    path("integrations/<int:integration_id>/delete/", views.integration_delete, name="integration-delete"),
    path("repositories/<int:repository_id>/link/", views.repository_link, name="repository-link"),
    path("repositories/rematch/", views.repositories_rematch, name="repositories-rematch"),
    path("repositories/connect/", views.repository_connect, name="repository-connect"),
    path("repositories/<int:repository_id>/sync/", views.repository_sync, name="repository-sync"),
    path("repositories/<int:repository_id>/disconnect/", views.repository_disconnect, name="repository-disconnect"),
]
