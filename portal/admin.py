from django.contrib import admin

from portal.githosts.admin_forms import GitIntegrationForm
from portal.models import (
    AuditEvent,
    Delivery,
    GitIntegration,
    Notification,
    PersonalToken,
    TeamChatWebhook,
    WorkerPing,
)
from portal.services import audit_record


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at", "last_used_ip")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "object_type", "object_repr", "ip_address")
    list_filter = ("action", "object_type")
    search_fields = ("actor_name", "object_repr", "action")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ("created_at", "answered_at", "answered_by")


@admin.register(TeamChatWebhook)
class TeamChatWebhookAdmin(admin.ModelAdmin):
    list_display = ("team_ref", "enabled")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "event", "title", "read_at")
    list_filter = ("event",)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "status", "attempts", "last_error")
    list_filter = ("channel", "status")


@admin.register(GitIntegration)
class GitIntegrationAdmin(admin.ModelAdmin):
    """Git hosts Bridge may read (GIT_INTEGRATIONS adds others); the token is write-only and encrypted."""

    form = GitIntegrationForm
    list_display = ("host", "type", "api_base_url", "token_hint", "allow_private_addresses", "updated_at")
    readonly_fields = ("token_hint", "created_at", "updated_at")
    fields = ("type", "host", "api_base_url", "token", "remove_token", "token_hint", "allow_private_addresses")

    def save_model(self, request, obj, form, change):
        from portal.githosts import integrations

        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="portal.git_integration.update" if change else "portal.git_integration.create",
            obj=obj,
            changes={
                "host": obj.host,
                "type": obj.type,
                "token_changed": bool(form.cleaned_data.get("token") or form.cleaned_data.get("remove_token")),
            },
        )
        integrations.forget()

    def delete_model(self, request, obj):
        from portal.githosts import integrations

        audit_record(actor=request.user, action="portal.git_integration.delete", obj=obj, changes={"host": obj.host})
        super().delete_model(request, obj)
        integrations.forget()
