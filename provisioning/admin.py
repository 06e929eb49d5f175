from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path

from provisioning import permissions, services
from provisioning.models import Approval, Cluster, EnvironmentRequest, EnvironmentTemplate, Run, TemplateVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    """State changes go through services (the portal pages and API), never through admin forms."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ("number", "title", "approval_policy", "approvals_required", "max_ttl_hours", "digest", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(EnvironmentTemplate)
class EnvironmentTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "current_version", "is_active", "last_loaded_at", "last_load_error")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = ("name", "is_active", "current_version", "source_path", "last_loaded_at", "last_load_error")
    readonly_fields = ("name", "current_version", "source_path", "last_loaded_at", "last_load_error")
    inlines = [TemplateVersionInline]
    change_list_template = "admin/provisioning/environmenttemplate/change_list.html"

    def has_add_permission(self, request):
        return False  # templates come from the templates directory

    def get_urls(self):
        return [
            path("reload/", self.admin_site.admin_view(self.reload_view), name="provisioning_template_reload"),
            *super().get_urls(),
        ]

    def reload_view(self, request):
        if request.method != "POST" or not permissions.can_reload_templates(request.user):
            return redirect("admin:provisioning_environmenttemplate_changelist")
        for result in services.templates_reload(actor=request.user):
            level = messages.ERROR if result.status == "rejected" else messages.SUCCESS
            self.message_user(request, f"{result.name}: {result.status}. {result.message}".strip(), level)
        return redirect("admin:provisioning_environmenttemplate_changelist")


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdmin):
    list_display = ("template", "number", "title", "approval_policy", "created_at")
    list_select_related = ("template",)


@admin.register(EnvironmentRequest)
class EnvironmentRequestAdmin(ReadOnlyAdmin):
    list_display = ("name", "template", "state", "requester", "created_at")
    list_filter = ("state", "template")
    search_fields = ("name", "requester__username")
    list_select_related = ("template", "requester")
    exclude = ("secret_parameters",)  # encrypted; never shown, not even as a token


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("id", "request", "kind", "status", "worker", "started_at", "finished_at", "exit_code")
    list_filter = ("kind", "status")
    list_select_related = ("request", "request__template")
    exclude = ()


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("request", "approver", "decision", "created_at")
    list_select_related = ("request", "request__template", "approver")


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Platform Admins register clusters and test the connection (server version, or the exact error)."""

    list_display = (
        "name",
        "context",
        "in_cluster",
        "namespace_prefix",
        "is_active",
        "last_checked_at",
        "last_check_result",
    )
    list_filter = ("is_active", "in_cluster")
    search_fields = ("name", "context")
    fields = (
        "name",
        "context",
        "kubeconfig",
        "in_cluster",
        "namespace_prefix",
        "server_dry_run",
        "is_active",
        "last_checked_at",
        "last_check_result",
    )
    readonly_fields = ("last_checked_at", "last_check_result")
    actions = ["test_connection"]

    def _allowed(self, request) -> bool:
        return permissions.can_manage_clusters(request.user)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)

    @admin.action(description="Test the connection (server version or the exact error)")
    def test_connection(self, request, queryset):
        for cluster in queryset[:20]:
            ok, result = services.cluster_test(user=request.user, cluster_id=cluster.pk)
            self.message_user(request, f"{cluster.name}: {result}", messages.SUCCESS if ok else messages.ERROR)
