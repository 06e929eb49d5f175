from django.contrib import admin

from catalog.models import Entity, Relation


class RelationInline(admin.TabularInline):
    model = Relation
    fk_name = "source"
    extra = 0
    raw_id_fields = ("target",)


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ("kind", "namespace", "name", "title", "spec_type", "lifecycle")
    list_filter = ("kind", "lifecycle")
    search_fields = ("name", "title", "description")
    inlines = [RelationInline]
