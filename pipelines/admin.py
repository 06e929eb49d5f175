from django.contrib import admin

from pipelines.models import Delivery, Deployment, Incident, Integration, Pipeline, Repository, Run


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    # The secret is managed on /pipelines/integrations/ (shown once); never here.
    list_display = ["name", "provider", "secret_prefix", "created_at", "rotated_at", "last_delivery_at"]
    fields = [
        "name", "provider", "public_id", "repositories", "owners", "secret_prefix", "secret_chosen", "created_by",
        "created_at", "rotated_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["delivery_id", "integration", "event", "status", "attempts", "received_at"]
    list_filter = ["status", "integration", "event"]
    search_fields = ["delivery_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    list_select_related = ["integration"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "provider", "entity", "linked_manually", "default_branch"]
    list_filter = ["provider", "linked_manually"]
    search_fields = ["slug"]
    raw_id_fields = ["entity"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "repository", "attention", "last_activity_at"]
    raw_id_fields = ["repository", "last_run", "default_branch_run"]
    search_fields = ["name", "repository__slug"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["pipeline", "provider_id", "attempt", "branch", "status", "created_at", "duration_seconds"]
    list_filter = ["status"]
    raw_id_fields = ["pipeline"]
    search_fields = ["provider_id", "commit_sha", "pipeline__repository__slug"]
    list_select_related = ["pipeline__repository"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["repository", "provider_id", "environment", "status", "finished_at"]
    list_filter = ["status", "is_production"]
    raw_id_fields = ["repository"]
    list_select_related = ["repository"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "source", "external_id", "entity", "started_at", "resolved_at"]
    raw_id_fields = ["entity", "repository", "deployment"]
