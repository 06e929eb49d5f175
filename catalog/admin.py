from django.contrib import admin

from catalog.models import Entity, Relation, Scorecard


class RelationInline(admin.TabularInline):
    model = Relation
    fk_name = "source"
    extra = 0
    raw_id_fields = ("target", "origin")
    fields = ("type", "target_ref", "target", "origin")


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    """For fixing one row by hand (linking a portal user, say); imports and the catalog pages do the rest."""

    list_display = ("kind", "namespace", "name", "title", "spec_type", "lifecycle", "owner_ref", "orphaned")
    list_filter = ("kind", "lifecycle", "orphaned")
    search_fields = ("ref_key", "title", "description")
    raw_id_fields = ("portal_user",)
    # Identity and spec come from descriptors (the catalog pages, imports): editing them here would
    # leave the derived columns and relations behind.
    readonly_fields = (
        "kind",
        "namespace",
        "name",
        "spec",
        "ref_key",
        "owner_ref",
        "system_ref",
        "source",
        "fingerprint",
        "created_at",
        "updated_at",
    )
    inlines = [RelationInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ("name", "applies_to_kind", "applies_to_type", "applies_to_tag", "updated_at")
