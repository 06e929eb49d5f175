from rest_framework import serializers

from catalog.models import Entity
from knowledge.models import Page, PageKind, Revision, Space


class SpaceSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    owner_id = serializers.PrimaryKeyRelatedField(
        source="owner", queryset=Entity.objects.filter(kind="Group"), required=False, allow_null=True, write_only=True
    )

    class Meta:
        model = Space
        fields = ["key", "name", "description", "owner", "owner_id", "open_for_edit", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class SpaceUpdateSerializer(SpaceSerializer):
    class Meta(SpaceSerializer.Meta):
        read_only_fields = ["key", "created_at", "updated_at"]


class PageListSerializer(serializers.ModelSerializer):
    space = serializers.SlugRelatedField(slug_field="key", read_only=True)
    revision = serializers.IntegerField(source="current_revision.number", read_only=True, default=None)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Page
        fields = ["id", "space", "slug", "title", "kind", "parent", "position", "revision", "updated_at", "url"]


class PageSerializer(PageListSerializer):
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    entities = serializers.SerializerMethodField()
    revision_id = serializers.IntegerField(source="current_revision_id", read_only=True)
    incident = serializers.IntegerField(
        source="incident_id", read_only=True, allow_null=True, help_text="Postmortems: the incident's id."
    )

    class Meta(PageListSerializer.Meta):
        fields = [
            *PageListSerializer.Meta.fields,
            "revision_id",
            "body",
            "tags",
            "entities",
            "incident",
            "deployment_ref",
        ]

    def get_entities(self, obj) -> list[str]:
        return [e.ref for e in obj.entities.all()]


class SpaceKeyField(serializers.SlugRelatedField):
    """A space by its key; a key with a NUL character is invalid (PostgreSQL cannot even look it up)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class PageWriteSerializer(serializers.Serializer):
    space = SpaceKeyField(slug_field="key", queryset=Space.objects.all(), required=False)
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=PageKind.choices, required=False)
    body = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    parent = serializers.PrimaryKeyRelatedField(queryset=Page.objects.all(), required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=20)
    entities = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all(), many=True, required=False)
    # A number: incidents are another app's, which checks it when the page is saved.
    incident = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Postmortems only: the id of the incident it is about (null to unlink).",
    )
    deployment_ref = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Postmortems only: the CI deployment id that caused the incident (counts as a failed change).",
    )
    message = serializers.CharField(max_length=300, required=False, allow_blank=True)
    base_revision = serializers.IntegerField(
        required=False, allow_null=True, help_text="The revision id the edit started from (conflict detection)."
    )


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Revision
        fields = ["id", "number", "title", "message", "author", "created_at"]


class RevisionDetailSerializer(RevisionSerializer):
    class Meta(RevisionSerializer.Meta):
        fields = [*RevisionSerializer.Meta.fields, "body"]


class RevertSerializer(serializers.Serializer):
    revision = serializers.IntegerField(help_text="The revision number to bring back.")
    message = serializers.CharField(max_length=300, required=False, allow_blank=True)


class SearchHitSerializer(serializers.Serializer):
    page = PageListSerializer()
    snippet = serializers.CharField()
    rank = serializers.FloatField()
