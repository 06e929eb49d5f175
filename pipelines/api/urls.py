from django.urls import path
from rest_framework.routers import DefaultRouter

from pipelines import receivers
from pipelines.api import views

app_name = "pipelines-api"

router = DefaultRouter()
router.register("runs", views.RunViewSet, basename="run")
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("repositories", views.HistoryRepositoryViewSet, basename="repository")

urlpatterns = [
    path("hooks/github/<uuid:public_id>/", receivers.GitHubReceiver.as_view(), name="hook-github"),
    path("hooks/gitlab/<uuid:public_id>/", receivers.GitLabReceiver.as_view(), name="hook-gitlab"),
    path("hooks/generic/<uuid:public_id>/", receivers.GenericReceiver.as_view(), name="hook-generic"),
    path("metrics/", views.MetricsView.as_view(), name="metrics"),
    *router.urls,
]
