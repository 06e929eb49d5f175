from django.urls import path

from provisioning import views

app_name = "provisioning"
urlpatterns = [
    path("", views.index, name="index"),
    path("approvals/", views.approvals, name="approvals"),
    path("templates/reload/", views.templates_reload, name="templates-reload"),
    path("new/<slug:name>/", views.request_new, name="request-new"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/live/", views.request_live, name="request-live"),
    path("requests/<int:pk>/log/", views.request_log, name="request-log"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/retry/", views.request_retry, name="request-retry"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("requests/<int:pk>/status/", views.request_status, name="request-status"),
    path("requests/<int:pk>/extend/", views.request_extend, name="request-extend"),
    path("requests/<int:pk>/destroy/", views.request_destroy, name="request-destroy"),
    path("requests/<int:pk>/drift/", views.request_drift, name="request-drift"),
    path("requests/<int:pk>/reapply/", views.request_reapply, name="request-reapply"),
    path("requests/<int:pk>/release-lock/", views.request_release_lock, name="request-release-lock"),
    path("drifted/", views.drifted, name="drifted"),
]
