from django.contrib import admin

from knowledge.models import Page, Revision, SiteBuild, Space, Tag


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
    raw_id_fields = ["parent", "current_revision", "entities", "updated_by"]
    # Text changes go through the editor so that every save is a revision.
    readonly_fields = ["body"]


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ["page", "number", "author", "created_at", "message"]
    raw_id_fields = ["page", "author"]

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(Tag)
admin.site.register(SiteBuild)
