from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from portal.api.views import AuditEventViewSet, MeView, NotificationViewSet, TokenViewSet

router = DefaultRouter()
router.register("tokens", TokenViewSet, basename="token")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("audit", AuditEventViewSet, basename="audit")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="portal/swagger_ui.html"),
        name="api-docs",
    ),
    path("me/", MeView.as_view(), name="api-me"),
    path("catalog/", include("catalog.api.urls")),
    path("provisioning/", include("provisioning.api.urls")),
    path("pipelines/", include("pipelines.api.urls")),
    path("knowledge/", include("knowledge.api.urls")),
    path("", include(router.urls)),
]
