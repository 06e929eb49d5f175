from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from catalog.api.views import ConflictListView, EntityFacetsView, EntityViewSet, ExportView, ImportView, LocationViewSet

router = DefaultRouter()
router.register("entities", EntityViewSet, basename="catalog-entity")
router.register("locations", LocationViewSet, basename="catalog-location")
urlpatterns = [
    re_path(
        r"^entities/by-ref/(?P<kind>[^/:]+):(?P<namespace>[^/]+)/(?P<name>[^/]+?)/?$",
        EntityViewSet.as_view({"get": "by_ref"}),
        name="catalog-entity-by-ref",
    ),
    path("entity-facets/", EntityFacetsView.as_view(), name="catalog-entity-facets"),
    path("export/", ExportView.as_view(), name="catalog-export"),
    path("import/", ImportView.as_view(), name="catalog-import"),
    path("conflicts/", ConflictListView.as_view(), name="catalog-conflicts"),
    *router.urls,
]
