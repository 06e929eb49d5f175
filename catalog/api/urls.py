import re

from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from catalog.api.views import ConflictListView, EntityFacetsView, EntityViewSet, ExportView, ImportView, LocationViewSet

# Also matched by the lean route (catalog.api.lean), which answers the plain case without Django's middleware.
BY_REF_PATH = re.compile(r"entities/by-ref/(?P<kind>[^/:]+):(?P<namespace>[^/]+)/(?P<name>[^/]+?)/?$")

router = DefaultRouter()
router.register("entities", EntityViewSet, basename="catalog-entity")
router.register("locations", LocationViewSet, basename="catalog-location")
urlpatterns = [
    re_path(
        "^" + BY_REF_PATH.pattern,
        EntityViewSet.as_view({"get": "by_ref"}),
        name="catalog-entity-by-ref",
    ),
    path("entity-facets/", EntityFacetsView.as_view(), name="catalog-entity-facets"),
    path("export/", ExportView.as_view(), name="catalog-export"),
    path("import/", ImportView.as_view(), name="catalog-import"),
    path("conflicts/", ConflictListView.as_view(), name="catalog-conflicts"),
    *router.urls,
]
