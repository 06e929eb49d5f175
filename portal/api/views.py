from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import selectors, services
from portal.api.serializers import (
    AuditEventSerializer,
    MeSerializer,
    NotificationSerializer,
    TokenCreatedSerializer,
    TokenSerializer,
)
from portal.filters import AuditEventFilter
from portal.models import AuditEvent, Notification, PersonalToken
from portal.permissions import can_manage_tokens, can_read_audit_log


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class SignedInSessionOnly(permissions.BasePermission):
    message = "Tokens are created, listed and revoked from a signed-in session only, never with a token."

    def has_permission(self, request, view):
        return can_manage_tokens(request.user, request.auth)


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The signed-in user's personal API tokens. A token cannot use these endpoints: only a session."""

    serializer_class = TokenSerializer
    permission_classes = [permissions.IsAuthenticated, SignedInSessionOnly]
    queryset = PersonalToken.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return selectors.tokens_of(self.request.user)

    @extend_schema(request=TokenSerializer, responses={201: TokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new = services.token_create(
            user=request.user,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data.get("scopes", ["read"]),
            expires_in_days=serializer.validated_data.get("expires_in_days"),
        )
        data = dict(TokenSerializer(new.token).data, key=new.key)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None, format=None):
        token = services.token_revoke(user=request.user, token_id=self.get_object().pk)
        return Response(TokenSerializer(token).data)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The signed-in user's notifications, newest first. `?unread=true` for unread ones only."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()

    def get_queryset(self):
        queryset = selectors.notifications_of(self.request.user)
        if self.request.query_params.get("unread", "").lower() in ("1", "true", "yes"):
            queryset = queryset.filter(read_at__isnull=True)
        return queryset

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None, format=None):
        notification = self.get_object()
        services.notification_mark_read(user=request.user, notification_id=notification.pk)
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=None, responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}}}})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request, format=None):
        return Response({"marked": services.notification_mark_read(user=request.user)})


class IsAuditReader(permissions.BasePermission):
    message = "Only Platform Admins can read the audit log."

    def has_permission(self, request, view):
        return can_read_audit_log(request.user)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first. Read-only: nothing in it can be changed or deleted."""

    serializer_class = AuditEventSerializer
    permission_classes = [permissions.IsAuthenticated, IsAuditReader]
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.none()

    def get_queryset(self):
        return selectors.audit_events()
