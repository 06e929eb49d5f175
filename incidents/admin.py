from django.contrib import admin, messages

from incidents import services
from incidents.models import Alert, AlertNotification, AlertReceiver, Incident, IncidentStep, TimelineEntry


class IncidentStepInline(admin.TabularInline):
    model = IncidentStep
    extra = 0
    raw_id_fields = ["done_by"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["pk", "runbook", "entity", "severity", "started_at", "closed_at", "outcome"]
    list_filter = ["severity", "outcome"]
    raw_id_fields = ["runbook", "revision", "entity", "started_by", "closed_by"]
    inlines = [IncidentStepInline]


@admin.register(AlertReceiver)
class AlertReceiverAdmin(admin.ModelAdmin):
    list_display = ("name", "auth", "enabled", "created_at", "last_used_at")
    fields = ("name", "auth", "enabled", "token_prefix", "created_at", "last_used_at")
    readonly_fields = ("token_prefix", "created_at", "last_used_at")
    actions = ["rotate_token"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        receiver, token = services.receiver_create(name=obj.name, auth=obj.auth, actor=request.user)
        obj.pk = receiver.pk
        obj.token_prefix = receiver.token_prefix
        obj.token_encrypted = receiver.token_encrypted
        obj.created_at = receiver.created_at
        messages.warning(request, f"The token of “{receiver.name}” (shown once, copy it now): {token}")

    @admin.action(description="Rotate the token (shown once)")
    def rotate_token(self, request, queryset):
        for receiver in queryset:
            token = services.receiver_rotate(receiver=receiver, actor=request.user)
            messages.warning(request, f"New token of “{receiver.name}” (shown once): {token}")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "entity", "incident", "starts_at", "ends_at")
    list_filter = ("status",)
    raw_id_fields = ("entity", "runbook", "incident", "receiver")
    search_fields = ("name", "fingerprint")


@admin.register(TimelineEntry)
class TimelineEntryAdmin(admin.ModelAdmin):
    list_display = ("incident", "at", "kind", "text")
    raw_id_fields = ("incident", "actor", "alert")


@admin.register(AlertNotification)
class AlertNotificationAdmin(admin.ModelAdmin):
    """What each notification changed, and why one failed. Read only: notifications come from Alertmanager."""

    list_display = ("pk", "receiver", "received_at", "status", "alerts", "changed", "unrouted", "attempts")
    list_filter = ("status", "receiver")
    readonly_fields = [f.name for f in AlertNotification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
