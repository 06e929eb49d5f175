from rest_framework import serializers

from catalog.models import Entity, EntityConflict, Relation


class EntitySerializer(serializers.ModelSerializer):
    ref = serializers.CharField(read_only=True)
    type = serializers.CharField(source="spec_type", read_only=True)
    owner = serializers.CharField(source="owner_ref", read_only=True)
    system = serializers.CharField(source="system_ref", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Entity
        fields = [
            "id",
            "ref",
            "api_version",
            "kind",
            "namespace",
            "name",
            "title",
            "description",
            "type",
            "lifecycle",
            "owner",
            "system",
            "labels",
            "annotations",
            "tags",
            "links",
            "spec",
            "orphaned",
            "source",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, e: Entity) -> dict:
        # By hand: DRF's field-by-field path costs ~1 ms an entity, a tenth of the list page's budget.
        # On PostgreSQL the list and by-ref endpoints have the database write this same JSON
        # (catalog.selectors._ENTITY_JSON); test_read_path checks the two agree field for field.
        return {
            "id": e.pk,
            "ref": e.ref,
            "api_version": e.api_version,
            "kind": e.kind,
            "namespace": e.namespace,
            "name": e.name,
            "title": e.title,
            "description": e.description,
            "type": e.spec_type,
            "lifecycle": e.lifecycle,
            "owner": e.owner_ref,
            "system": e.system_ref,
            "labels": e.labels,
            "annotations": e.annotations,
            "tags": e.tags,
            "links": e.links,
            "spec": e.spec,
            "orphaned": e.orphaned,
            "source": e.source,
            "url": e.get_absolute_url(),
            "created_at": e.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": e.updated_at.isoformat().replace("+00:00", "Z"),
        }


class DescriptorSerializer(serializers.Serializer):
    """A Backstage descriptor as JSON: what create and update take (validated by the import rules)."""

    apiVersion = serializers.CharField(required=False, default="backstage.io/v1alpha1")  # noqa: N815
    kind = serializers.CharField()
    metadata = serializers.DictField()
    spec = serializers.DictField(required=False, default=dict)


class RelationSerializer(serializers.ModelSerializer):
    resolved = serializers.BooleanField(source="is_resolved", read_only=True)
    target_url = serializers.SerializerMethodField()

    class Meta:
        model = Relation
        fields = ["type", "source_ref", "target_ref", "resolved", "target_url"]

    def get_target_url(self, obj) -> str | None:
        return obj.target.get_absolute_url() if obj.target_id else None


class ImportSerializer(serializers.Serializer):
    yaml = serializers.CharField(required=False, allow_blank=False, trim_whitespace=False)
    file = serializers.FileField(required=False)
    name = serializers.CharField(required=False, max_length=200, help_text="The upload's name within its team.")
    team = serializers.CharField(
        required=False,
        max_length=200,
        help_text="The team (Group reference) the upload is for; needed when you are in several teams. "
        "Platform Admins upload as themselves without it.",
    )
    path = serializers.CharField(required=False, max_length=1000)

    def validate(self, attrs):
        given = [k for k in ("yaml", "file", "path") if attrs.get(k)]
        if len(given) != 1:
            raise serializers.ValidationError("Give exactly one of yaml, file or path.")
        return attrs


class LocationSerializer(serializers.Serializer):
    """A Git location and the state of its last read."""

    def to_representation(self, loc) -> dict:
        return {
            "id": loc.pk,
            "provider": loc.provider,
            "host": loc.host,
            "repository": loc.repository,
            "ref": loc.ref,
            "path": loc.path,
            "file_url": loc.file_url,
            "discovery": loc.discovery_id,
            "status": loc.status,
            "refreshed_at": loc.refreshed_at.isoformat().replace("+00:00", "Z") if loc.refreshed_at else None,
            "changed_at": loc.changed_at.isoformat().replace("+00:00", "Z") if loc.changed_at else None,
            "error": loc.error,
            "retry_at": loc.retry_at.isoformat().replace("+00:00", "Z") if loc.retry_at else None,
            "targets": [{"path": path, **info} for path, info in sorted((loc.files or {}).items())],
            "last_changes": loc.last_changes or {},
            "problems": loc.problems or [],
            "conflicts": loc.conflicts or [],
            "url": loc.get_absolute_url(),
        }


class LocationCreateSerializer(serializers.Serializer):
    """Either ``url`` (a GitHub/GitLab file URL) or ``repository`` + ``ref`` + ``path``."""

    url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    repository = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    ref = serializers.CharField(required=False, allow_blank=True, max_length=255)
    path = serializers.CharField(required=False, allow_blank=True, max_length=1000)

    def validate(self, attrs):
        if bool(attrs.get("url")) == bool(attrs.get("repository")):
            raise serializers.ValidationError("Give either url, or repository with ref and path.")
        if attrs.get("repository") and not (attrs.get("ref") and attrs.get("path")):
            raise serializers.ValidationError("A repository location needs ref and path.")
        return attrs


class LocationOutcomeSerializer(serializers.Serializer):
    location = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["unchanged", "read", "error", "deferred"])
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    orphaned = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(child=serializers.DictField())
    conflicts = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField()


class MoveSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=1000, help_text="The key of the source the entity moves to.")


class ConflictSerializer(serializers.ModelSerializer):
    """A copy of an entity that a source listed although another source owns the entity (refused)."""

    entity = serializers.CharField(source="entity.ref", read_only=True)
    owner = serializers.CharField(source="entity.source", read_only=True)
    file = serializers.CharField(source="source_label", read_only=True)

    class Meta:
        model = EntityConflict
        fields = ["entity", "owner", "source", "file", "document", "first_seen_at", "last_seen_at"]
        read_only_fields = fields
