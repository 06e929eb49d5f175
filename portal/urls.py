from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.accounts import views as accounts_views

handler403 = "portal.views.error_403"
handler404 = "portal.views.error_404"
handler500 = "portal.views.error_500"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", accounts_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", accounts_views.sign_out, name="logout"),
    path("accounts/oidc/start/", accounts_views.oidc_start, name="oidc-start"),
    path("accounts/oidc/callback/", accounts_views.oidc_callback, name="oidc-callback"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/tokens/", views.token_create, name="token-create"),
    path("accounts/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications-read-all"),
    path("notifications/preferences/", views.notification_preferences, name="notification-preferences"),
    path("notifications/<int:notification_id>/open/", views.notification_open, name="notification-open"),
    path("audit/", views.audit_log, name="audit-log"),
    path("search/", views.search, name="search"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("portal.api.urls")),
    path("catalog/", include("catalog.urls")),
    path("environments/", include("provisioning.urls")),
    path("pipelines/", include("pipelines.urls")),
    path("knowledge/", include("incidents.legacy_urls")),  # /knowledge/incidents/... moved to /incidents/
    path("knowledge/", include("knowledge.urls")),
    path("create/", include("scaffolder.urls")),
    path("incidents/", include("incidents.urls")),
]
