from django.contrib import admin

from knowledge.models import Incident, IncidentStep, Page, Revision, SiteBuild, Space, Tag


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "owner", "open_for_edit"]
    search_fields = ["key", "name"]
    raw_id_fields = ["owner"]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["title", "space", "kind", "updated_at"]
    list_filter = ["kind", "space"]
    search_fields = ["title"]
    raw_id_fields = ["parent", "current_revision", "incident", "entities", "updated_by"]
    # Text changes go through the editor so that every save is a revision.
    readonly_fields = ["body"]


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ["page", "number", "author", "created_at", "message"]
    raw_id_fields = ["page", "author"]

    def has_change_permission(self, request, obj=None):
        return False


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


admin.site.register(Tag)
admin.site.register(SiteBuild)
