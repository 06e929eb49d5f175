from django.urls import path

from scaffolder import views

app_name = "scaffolder"
urlpatterns = [
    path("", views.index, name="index"),
    path("templates/reload/", views.templates_reload, name="templates-reload"),
    path("templates/<slug:name>/", views.template_form, name="template"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/create/", views.run_confirm, name="run-confirm"),
    path("runs/<int:pk>/approve/", views.run_approve, name="run-approve"),
    path("runs/<int:pk>/reject/", views.run_reject, name="run-reject"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:pk>/cleanup/", views.run_cleanup, name="run-cleanup"),
]
