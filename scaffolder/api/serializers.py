from rest_framework import serializers

from scaffolder.models import RunLogLine, RunStep, ScaffolderRun, SoftwareTemplate


class SoftwareTemplateSerializer(serializers.ModelSerializer):
    parameters = serializers.JSONField(source="parameters_schema")
    approval = serializers.JSONField()

    class Meta:
        model = SoftwareTemplate
        fields = ["name", "title", "description", "owner", "tags", "parameters", "approval"]


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunStep
        fields = ["key", "title", "state", "message", "started_at", "finished_at"]


class ScaffolderLogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunLogLine
        fields = ["step", "text", "at"]


class RunSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    requester = serializers.CharField(source="requester.username")
    steps = StepSerializer(many=True, read_only=True)
    log = ScaffolderLogLineSerializer(many=True, read_only=True, source="log_lines")

    class Meta:
        model = ScaffolderRun
        fields = [
            "id",
            "template",
            "name",
            "owner",
            "requester",
            "parameters",
            "target",
            "state",
            "error",
            "outputs",
            "steps",
            "log",
            "created_at",
            "started_at",
            "finished_at",
        ]


class RunCreateSerializer(serializers.Serializer):
    template = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=63)
    owner = serializers.CharField(max_length=200, help_text="The owning team, group:namespace/name")
    destination = serializers.CharField(max_length=300, help_text="github:HOST, gitlab:HOST, local or existing")
    repository_owner = serializers.CharField(max_length=200, required=False, allow_blank=True)
    repository_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    visibility = serializers.CharField(max_length=20, required=False, allow_blank=True)
    parameters = serializers.DictField(required=False)
    with_environment = serializers.BooleanField(required=False, default=False)
    dry_run = serializers.BooleanField(required=False, default=False)


class FileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    text = serializers.CharField(allow_null=True)


class DryRunSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    files = FileSerializer(many=True)
