from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from provisioning.models import EnvironmentRequest, EnvironmentTemplate, Run, RunLogLine


class TemplateSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="current_version.number")
    title = serializers.CharField(source="current_version.title")
    description = serializers.CharField(source="current_version.description")
    environment_type = serializers.CharField(source="current_version.environment_type")
    owner = serializers.CharField(source="current_version.owner_ref")
    parameters_schema = serializers.SerializerMethodField()
    parameter_order = serializers.ListField(
        source="current_version.parameter_order",
        child=serializers.CharField(),
        help_text="The parameters in the order the form shows them",
    )
    approval = serializers.SerializerMethodField()
    ttl = serializers.SerializerMethodField()
    clusters = serializers.SerializerMethodField(
        help_text="The clusters a request may choose (the first is the default); empty: no Kubernetes namespace"
    )

    class Meta:
        model = EnvironmentTemplate
        fields = [
            "name", "version", "title", "description", "environment_type", "owner", "parameters_schema",
            "parameter_order", "approval", "ttl", "clusters",
        ]  # fmt: skip

    def get_clusters(self, obj) -> list[str]:
        from provisioning.models import Cluster

        if "_active_clusters" not in self.context:  # one query for the whole list
            self.context["_active_clusters"] = set(
                Cluster.objects.filter(is_active=True).values_list("name", flat=True)
            )
        names = (obj.current_version.kubernetes or {}).get("clusters") or []
        return [name for name in names if name in self.context["_active_clusters"]]

    def get_parameters_schema(self, obj) -> dict:
        """The JSON Schema, its properties in the template's order."""
        version = obj.current_version
        return {**version.parameters_schema, "properties": dict(version.ordered_parameters)}

    def get_approval(self, obj) -> dict:
        v = obj.current_version
        return {"policy": v.approval_policy, "group": v.approval_group or None, "count": v.approvals_required}

    def get_ttl(self, obj) -> dict:
        v = obj.current_version
        return {"default_hours": v.default_ttl_hours, "max_hours": v.max_ttl_hours}


@extend_schema_serializer(component_name="ProvisioningRun")
class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = [
            "id", "kind", "status", "command", "exit_code", "error", "cancel_requested", "line_count",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class RequestSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    template_version = serializers.IntegerField(source="template_version.number")
    requester = serializers.CharField(source="requester.username")
    entity = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    cluster = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField(help_text="In the template's order; secret values are masked")

    class Meta:
        model = EnvironmentRequest
        fields = [
            "id", "name", "template", "template_version", "state", "requester", "entity", "team", "parameters",
            "justification", "ttl_hours", "failure_reason", "plan_summary", "outputs", "created_at", "updated_at",
            "activated_at", "expires_at", "cluster", "namespace", "kubernetes_state", "kubernetes_note",
            "is_drifted", "drift", "drift_checked_at", "destroyed_at",
        ]  # fmt: skip

    def get_parameters(self, obj) -> dict:
        return dict(obj.parameter_items)

    def get_cluster(self, obj) -> str | None:
        return obj.cluster.name if obj.cluster_id else None

    def get_entity(self, obj) -> str | None:
        return obj.entity.ref if obj.entity_id else None

    def get_team(self, obj) -> str | None:
        return obj.team.ref if obj.team_id else None


class RequestDetailSerializer(RequestSerializer):
    runs = RunSerializer(many=True, read_only=True)

    class Meta(RequestSerializer.Meta):
        fields = [*RequestSerializer.Meta.fields, "runs"]


class RequestCreateSerializer(serializers.Serializer):
    template = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=1000, allow_blank=True)
    entity = serializers.IntegerField(required=False, allow_null=True, help_text="catalog entity id")
    team = serializers.IntegerField(required=False, allow_null=True, help_text="catalog Group id, one of yours")
    justification = serializers.CharField(max_length=20000, allow_blank=True)
    ttl_hours = serializers.IntegerField(required=False, allow_null=True)
    parameters = serializers.DictField(
        required=False, default=dict, help_text="Only the template's declared parameters; secrets are write-only"
    )
    cluster = serializers.CharField(
        required=False, allow_null=True, max_length=63, help_text="One of the template's clusters (default: its first)"
    )


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunLogLine
        fields = ["number", "text"]


class LogPageSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField()
    finished = serializers.BooleanField()
    lines = LogLineSerializer(many=True)
    next_after = serializers.IntegerField(help_text="pass as ?after= to get the following lines")


class ExtendSerializer(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=8760)


class DestroySerializer(serializers.Serializer):
    confirm = serializers.CharField(max_length=100, help_text="the environment's name, to confirm")


class ClusterStatusSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    phase = serializers.CharField()
    deployments = serializers.ListField(child=serializers.DictField())
    pods = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.CharField())
    quota = serializers.DictField()
