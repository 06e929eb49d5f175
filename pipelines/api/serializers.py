from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from pipelines.models import Deployment, Incident, Job, Repository, Run


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = [
            "provider_id", "name", "stage", "status", "conclusion", "started_at", "finished_at",
            "duration_seconds", "url", "steps",
        ]  # fmt: skip


@extend_schema_serializer(component_name="PipelineRun")
class RunSerializer(serializers.ModelSerializer):
    repository = serializers.CharField(source="pipeline.repository.slug")
    provider = serializers.CharField(source="pipeline.repository.provider")
    pipeline = serializers.CharField(source="pipeline.name")
    entity = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "provider", "repository", "pipeline", "entity", "provider_id", "attempt", "number", "name",
            "title", "branch", "commit_sha", "event", "status", "conclusion", "created_at", "started_at",
            "finished_at", "duration_seconds", "url", "actor",
        ]  # fmt: skip

    def get_entity(self, run) -> str | None:
        entity = run.pipeline.repository.entity
        return entity.ref if entity else None


@extend_schema_serializer(component_name="PipelineRunDetail")
class RunDetailSerializer(RunSerializer):
    jobs = JobSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "jobs"]


class DeploymentSerializer(serializers.ModelSerializer):
    repository = serializers.CharField(source="repository.slug")
    provider = serializers.CharField(source="repository.provider")

    class Meta:
        model = Deployment
        fields = [
            "id", "provider", "repository", "provider_id", "environment", "is_production", "commit_sha", "ref",
            "status", "created_at", "finished_at", "commit_at", "url", "actor",
        ]  # fmt: skip


@extend_schema_serializer(component_name="PipelineIncident")
class IncidentSerializer(serializers.ModelSerializer):
    entity = serializers.CharField(required=False, allow_blank=True, write_only=True, help_text="kind:namespace/name")
    repository = serializers.CharField(required=False, allow_blank=True, write_only=True)
    deployment_id = serializers.CharField(
        required=False, allow_blank=True, write_only=True, help_text="The provider's deployment id"
    )
    incident_id = serializers.CharField(source="external_id", max_length=200)
    entity_ref = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id", "source", "incident_id", "title", "entity", "repository", "deployment_id", "entity_ref",
            "deployment", "started_at", "resolved_at", "url",
        ]  # fmt: skip
        read_only_fields = ["id", "source", "deployment", "entity_ref"]
        validators: list = []  # recording the same incident again updates it (incident_record is an upsert)

    def get_entity_ref(self, incident) -> str | None:
        return incident.entity.ref if incident.entity else None

    def validate(self, attrs):
        if attrs.get("resolved_at") and attrs["resolved_at"] < attrs["started_at"]:
            raise serializers.ValidationError({"resolved_at": "An incident cannot be resolved before it started."})
        return attrs


class MetricSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    previous = serializers.FloatField(allow_null=True)
    trend = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="What the figure counts: deployments, or recoveries.")
    part = serializers.IntegerField(
        allow_null=True, help_text="Change fail rate: the failed changes among `count` deployments."
    )


class StatsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    finished = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    median_duration = serializers.FloatField(allow_null=True)


class MetricsSerializer(serializers.Serializer):
    scope = serializers.CharField()
    days = serializers.IntegerField()
    dora = MetricSerializer(many=True)
    runs = StatsSerializer()


class HistoryRepositorySerializer(serializers.ModelSerializer):
    """A repository whose history Bridge reads from its provider's API (``state``: queued, syncing, synced,
    waiting — for a rate limit until ``retry_at`` —, or failed with ``error``)."""

    state = serializers.CharField(source="history_state", read_only=True)
    days = serializers.IntegerField(source="history_days", read_only=True)
    retry_at = serializers.DateTimeField(source="history_retry_at", read_only=True)
    error = serializers.CharField(source="history_error", read_only=True)
    synced_at = serializers.DateTimeField(source="history_synced_at", read_only=True)

    class Meta:
        model = Repository
        fields = ["id", "provider", "slug", "url", "days", "state", "retry_at", "error", "synced_at"]
        read_only_fields = fields


class ConnectRepositorySerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="The repository's web URL on a host with a Git integration.")
    days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Days of history (default PIPELINES_BACKFILL_DAYS)."
    )
