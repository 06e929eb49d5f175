from django.contrib import admin

from scaffolder.models import ScaffolderRun, SoftwareTemplate


@admin.register(SoftwareTemplate)
class SoftwareTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "owner", "is_active", "loaded_at"]
    readonly_fields = ["name", "descriptor", "digest", "source_path", "last_load_error", "loaded_at"]
    exclude = ["files"]


@admin.register(ScaffolderRun)
class ScaffolderRunAdmin(admin.ModelAdmin):
    list_display = ["name", "template", "requester", "state", "created_at"]
    list_filter = ["state"]
    readonly_fields = ["template", "requester", "name", "owner", "parameters", "target", "state", "outputs", "error"]
    exclude = ["secret_parameters", "template_digest"]
