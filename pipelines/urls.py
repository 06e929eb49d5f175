from django.urls import path

from pipelines import views

app_name = "pipelines"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("entity/<str:kind>/<str:namespace>/<str:name>/", views.entity_dashboard, name="entity"),
    path("team/<str:namespace>/<str:name>/", views.team_dashboard, name="team"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/new/", views.integration_create, name="integration-create"),
    path("integrations/<int:integration_id>/rotate/", views.integration_rotate, name="integration-rotate"),
    path("integrations/<int:integration_id>/delete/", views.integration_delete, name="integration-delete"),
    path("repositories/<int:repository_id>/link/", views.repository_link, name="repository-link"),
    path("repositories/rematch/", views.repositories_rematch, name="repositories-rematch"),
]
