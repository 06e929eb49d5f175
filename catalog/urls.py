from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.index, name="index"),
    path("export/", views.export, name="export"),
    path("import/", views.import_view, name="import"),
    path("new/", views.create, name="create"),
    path("orphans/", views.orphans, name="orphans"),
    path("orphans/delete/", views.delete_orphans, name="delete-orphans"),
    path("sources/", views.sources, name="sources"),
    path("sources/one/", views.source, name="source"),
    path("me/", views.me, name="me"),
    path("scorecards/", views.scorecards, name="scorecards"),
    path("scorecards/new/", views.scorecard_create, name="scorecard-create"),
    path("scorecards/<int:pk>/", views.scorecard_detail, name="scorecard"),
    path("scorecards/<int:pk>/edit/", views.scorecard_edit, name="scorecard-edit"),
    path("scorecards/<int:pk>/recompute/", views.scorecard_recompute, name="scorecard-recompute"),
    path("scorecards/<int:pk>/delete/", views.scorecard_delete, name="scorecard-delete"),
    path("locations/", views.locations, name="locations"),
    path("locations/<int:pk>/", views.location, name="location"),
    path("locations/<int:pk>/refresh/", views.location_refresh, name="location-refresh"),
    path("locations/<int:pk>/remove/", views.location_remove, name="location-remove"),
    path("locations/discoveries/<int:pk>/scan/", views.discovery_scan, name="discovery-scan"),
    path("<str:kind>/<str:namespace>/<str:name>/", views.entity, name="entity"),
    path("<str:kind>/<str:namespace>/<str:name>/edit/", views.edit, name="edit"),
    path("<str:kind>/<str:namespace>/<str:name>/delete/", views.delete, name="delete"),
    path("<str:kind>/<str:namespace>/<str:name>/export/", views.entity_export, name="entity-export"),
    path("<str:kind>/<str:namespace>/<str:name>/move/", views.move, name="move"),
    path("<str:kind>/<str:namespace>/<str:name>/claim/", views.account_claim, name="account-claim"),
    path("<str:kind>/<str:namespace>/<str:name>/link/", views.account_link, name="account-link"),
    path("<str:kind>/<str:namespace>/<str:name>/unlink/", views.account_unlink, name="account-unlink"),
]
