from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from portal.permissions import can_use_admin_site


class PortalAdminSite(admin.AdminSite):
    site_header = "Bridge administration"
    site_title = "Bridge admin"
    index_title = "Platform administration"

    def has_permission(self, request):
        return can_use_admin_site(request.user)


class PortalAdminConfig(AdminConfig):
    default_site = "portal.admin_site.PortalAdminSite"
