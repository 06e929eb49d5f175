from django.urls import path

from knowledge import views

app_name = "knowledge"
urlpatterns = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("spaces/new/", views.space_create, name="space-create"),
    path("preview/", views.preview, name="preview"),
    path("template/", views.page_template, name="page-template"),
    path("docs/<int:entity_id>/build/", views.service_docs_build, name="docs-build"),
    path("docs/<int:entity_id>/", views.service_docs, {"path": ""}, name="docs"),
    path("docs/<int:entity_id>/<path:path>", views.service_docs, name="docs-file"),
    path("icons/<path:name>", views.icon, name="icon"),
    path("site/<str:token>/", views.built_site, {"path": ""}, name="site"),
    path("site/<str:token>/<path:path>", views.built_site, name="site-file"),
    path("s/<slug:key>/", views.space_detail, name="space"),
    path("s/<slug:key>/settings/", views.space_settings, name="space-settings"),
    path("s/<slug:key>/new/", views.page_create, name="page-create"),
    path("s/<slug:key>/export.zip", views.space_export, name="space-export"),
    path("s/<slug:key>/import/", views.space_import, name="space-import"),
    path("s/<slug:key>/build/", views.space_build, name="space-build"),
    path("s/<slug:key>/site/", views.space_site, {"path": ""}, name="space-site"),
    path("s/<slug:key>/site/<path:path>", views.space_site, name="space-site-file"),
    path("s/<slug:key>/p/<slug:slug>/", views.page_detail, name="page"),
    path("s/<slug:key>/p/<slug:slug>/edit/", views.page_edit, name="page-edit"),
    path("s/<slug:key>/p/<slug:slug>/history/", views.page_history, name="page-history"),
    path("s/<slug:key>/p/<slug:slug>/diff/", views.page_diff, name="page-diff"),
    path("s/<slug:key>/p/<slug:slug>/revisions/<int:number>/", views.page_revision, name="page-revision"),
    path("s/<slug:key>/p/<slug:slug>/revert/<int:number>/", views.page_revert, name="page-revert"),
    path("s/<slug:key>/p/<slug:slug>/delete/", views.page_delete, name="page-delete"),
    path("s/<slug:key>/p/<slug:slug>/files/", views.attachment_upload, name="attachment-upload"),
    path("s/<slug:key>/p/<slug:slug>/files/<str:name>", views.attachment_file, name="attachment"),
    path("s/<slug:key>/p/<slug:slug>/files/<str:name>/delete/", views.attachment_remove, name="attachment-delete"),
]
