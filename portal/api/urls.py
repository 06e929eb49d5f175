from django.contrib.auth.views import redirect_to_login
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission
from rest_framework.routers import DefaultRouter

from portal.api.views import AuditEventViewSet, MeView, NotificationViewSet, TokenViewSet
from portal.permissions import can_read_api_docs

router = DefaultRouter()
router.register("tokens", TokenViewSet, basename="token")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("audit", AuditEventViewSet, basename="audit")


class DocsPermission(BasePermission):
    message = "Sign in to read the API schema."

    def has_permission(self, request, view):
        return can_read_api_docs(request.user)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; sign-in needed when ``API_DOCS_REQUIRE_SIGN_IN`` (production's default)."""

    def get_permissions(self):
        return [DocsPermission()]


_swagger = SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="portal/swagger_ui.html")


def api_docs(request, *args, **kwargs):
    """The API documentation page; sends visitors to sign in when ``API_DOCS_REQUIRE_SIGN_IN``."""
    if not can_read_api_docs(request.user):
        return redirect_to_login(request.get_full_path())
    return _swagger(request, *args, **kwargs)


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", api_docs, name="api-docs"),
    path("me/", MeView.as_view(), name="api-me"),
    path("catalog/", include("catalog.api.urls")),
    path("provisioning/", include("provisioning.api.urls")),
    path("pipelines/", include("pipelines.api.urls")),
    path("knowledge/", include("incidents.api.legacy_urls")),  # moved to /api/incidents/
    path("knowledge/", include("knowledge.api.urls")),
    path("scaffolder/", include("scaffolder.api.urls")),
    path("incidents/", include("incidents.api.urls")),
    path("", include(router.urls)),
]
