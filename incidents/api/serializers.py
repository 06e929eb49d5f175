"""Serializers of the incidents API: an incident with its runbook steps, starting, steps, closing."""

from rest_framework import serializers

from catalog.models import Entity
from incidents.models import Incident, IncidentStep, Outcome, Severity
from knowledge.models import Page, PageKind


class IncidentStepSerializer(serializers.ModelSerializer):
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IncidentStep
        fields = ["number", "text", "done", "done_by", "done_at", "note"]


class IncidentSerializer(serializers.ModelSerializer):
    entity = serializers.SerializerMethodField()
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = IncidentStepSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id", "runbook", "entity", "severity", "summary", "started_by", "started_at",
            "closed_by", "closed_at", "outcome", "outcome_notes", "steps",
        ]  # fmt: skip

    def get_entity(self, obj) -> str | None:
        return obj.entity.ref if obj.entity else None


class IncidentStartSerializer(serializers.Serializer):
    runbook = serializers.PrimaryKeyRelatedField(queryset=Page.objects.filter(kind=PageKind.RUNBOOK))
    entity = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all(), required=False, allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True)


class StepUpdateSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    done = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class IncidentCloseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
