from django.contrib.auth import get_user_model
from rest_framework import serializers

from portal.models import PersonalToken
from portal.permissions import role_names


class MeSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "email", "roles"]

    def get_roles(self, user) -> list[str]:
        return role_names(user)


class TokenSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=["read", "write"]),
        required=False,
        help_text='["read"] (the default) or ["read", "write"].',
    )
    expires_in_days = serializers.IntegerField(
        write_only=True, required=False, min_value=1, help_text="Days until it expires; 90 unless given."
    )

    class Meta:
        model = PersonalToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "expires_in_days",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
        ]
        read_only_fields = ["id", "prefix", "created_at", "expires_at", "last_used_at", "last_used_ip", "revoked_at"]


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = TokenSerializer.Meta.fields + ["key"]


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        from portal.models import Notification

        model = Notification
        fields = ["id", "event", "title", "body", "url", "created_at", "read_at"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        from portal.models import AuditEvent

        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "ip_address",
        ]
        read_only_fields = fields
