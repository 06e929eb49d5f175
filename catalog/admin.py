from django.contrib import admin

from catalog import services
from catalog.models import Entity, Kind, Relation, Scorecard


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

    def save_model(self, request, obj, form, change):
        # The list's counts and pages are kept per catalog version: a row fixed here gives a new one.
        services.catalog_changed()
        # Linking a portal account makes it a member of the User's teams: go through the
        # service, which writes the link or unlink to the audit log.
        if not (change and "portal_user" in form.changed_data and obj.kind == Kind.USER):
            return super().save_model(request, obj, form, change)
        account = obj.portal_user
        obj.portal_user_id = Entity.objects.filter(pk=obj.pk).values_list("portal_user", flat=True).get()
        super().save_model(request, obj, form, change)
        if account is None:
            services.portal_user_unlink(entity=obj, actor=request.user)
        else:
            services.portal_user_link(entity=obj, user=account, actor=request.user)

    def delete_model(self, request, obj):
        services.catalog_changed()
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        services.catalog_changed()
        super().delete_queryset(request, queryset)


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ("name", "applies_to_kind", "applies_to_type", "applies_to_tag", "updated_at")
