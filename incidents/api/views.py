"""The Alertmanager webhook receiver and the incident response API."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import lifecycle, selectors, services
from incidents.api import serializers as s
from incidents.models import Incident
from portal.params import parse_int
from portal.services import ServiceError


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is larger than this receiver accepts (INCIDENTS_MAX_BODY_BYTES)."
    default_code = "too_large"


RECEIVED = inline_serializer(
    "AlertmanagerNotificationReceived",
    {
        "alerts": serializers.IntegerField(help_text="Alerts in the notification."),
        "unchanged": serializers.BooleanField(
            help_text="The group's last notification had the same alerts in the same states: nothing to apply."
        ),
        "notification": serializers.IntegerField(
            allow_null=True, help_text="The stored notification a worker applies (null when there is nothing to apply)."
        ),
    },
)


class AlertmanagerReceiver(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'Bearer realm="bridge-alertmanager"'

    @extend_schema(
        operation_id="incidents_alertmanager_receive",
        summary="Alertmanager webhook receiver",
        description=(
            "Configure as a webhook_configs url of an Alertmanager receiver (payload version 4), with "
            "http_config.authorization (type Bearer, the receiver's token) or http_config.basic_auth (the "
            "receiver's name and token). Firing alerts open an incident for their service or join its open "
            "incident; resolved alerts resolve. Re-sent notifications (repeat_interval, retries) change nothing. "
            "The answer comes once the notification is stored (202); a worker applies it within about a second."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            202: RECEIVED,
            200: OpenApiResponse(RECEIVED, description="Nothing to apply: a re-send, or no alerts."),
            400: OpenApiResponse(description="Not Alertmanager's payload version 4; nothing stored."),
            401: OpenApiResponse(description="No or wrong token; nothing stored."),
            413: OpenApiResponse(description="The body is over INCIDENTS_MAX_BODY_BYTES."),
            415: OpenApiResponse(description="The body is not application/json."),
        },
        tags=["incidents"],
        auth=[],
    )
    def post(self, request):
        receiver = services.receiver_authenticate(request.headers.get("Authorization", ""))
        if receiver is None:
            raise exceptions.AuthenticationFailed("Send this receiver's token (Bearer, or basic auth with its name).")
        limit = settings.INCIDENTS_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise exceptions.ParseError("Content-Length is not a number.") from None
        if declared > limit:
            raise PayloadTooLarge()
        raw = request._request
        body = raw._body if hasattr(raw, "_body") else raw.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge()
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise exceptions.UnsupportedMediaType(content_type or "none", detail="Send application/json.")
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise exceptions.ParseError("The body is not valid JSON.") from None
        except RecursionError:
            raise exceptions.ParseError("The JSON is nested too deeply for a webhook payload.") from None
        try:
            result = services.alertmanager_receive(receiver=receiver, payload=payload, body=text)
        except ServiceError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}, code="invalid_payload") from None
        return Response(
            {"alerts": result.alerts, "unchanged": result.unchanged, "notification": result.notification},
            status=status.HTTP_202_ACCEPTED if result.notification else status.HTTP_200_OK,
        )


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(help_text="The username of a member of the service's team.")


RESPONSE = inline_serializer(
    "IncidentResponse",
    {
        "incident": serializers.IntegerField(),
        "acknowledged_by": serializers.CharField(allow_null=True),
        "acknowledged_at": serializers.DateTimeField(allow_null=True),
        "assignee": serializers.CharField(allow_null=True),
        "awaiting_confirmation": serializers.BooleanField(),
    },
)


def _response_data(incident) -> dict:
    response = selectors.response_of(incident)
    return {
        "incident": incident.pk,
        "acknowledged_by": response.acknowledged_by.get_username() if response and response.acknowledged_by else None,
        "acknowledged_at": response.acknowledged_at if response else None,
        "assignee": response.assignee.get_username() if response and response.assignee else None,
        "awaiting_confirmation": bool(response and response.awaiting_confirmation),
    }


class AcknowledgeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=RESPONSE, tags=["incidents"], summary="Acknowledge an incident")
    def post(self, request, pk):
        incident = get_object_or_404(Incident, pk=pk)
        services.incident_acknowledge(actor=request.user, incident=incident)
        return Response(_response_data(incident))


class AssignView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=AssignSerializer, responses=RESPONSE, tags=["incidents"], summary="Assign an incident")
    def post(self, request, pk):
        incident = get_object_or_404(Incident, pk=pk)
        ser = AssignSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        assignee = get_user_model().objects.filter(username=ser.validated_data["assignee"], is_active=True).first()
        services.incident_assign(actor=request.user, incident=incident, assignee=assignee)
        return Response(_response_data(incident))


class IncidentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Incidents with their runbook steps: list (``?entity=``, ``?open=true``), start from a runbook,
    tick steps, close. Acknowledge and assign are below."""

    serializer_class = s.IncidentSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = selectors.incidents().prefetch_related("steps__done_by")
        entity = parse_int(self.request.query_params.get("entity"))
        if entity is not None:
            qs = qs.filter(entity_id=entity)
        if self.request.query_params.get("open") == "true":
            qs = qs.filter(closed_at__isnull=True)
        return qs

    @extend_schema(request=s.IncidentStartSerializer, responses={201: s.IncidentSerializer})
    def create(self, request, *args, **kwargs):
        ser = s.IncidentStartSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        incident = lifecycle.incident_start(
            actor=request.user,
            runbook=d["runbook"],
            entity=d.get("entity"),
            severity=d["severity"],
            summary=d.get("summary", ""),
        )
        return Response(s.IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.StepUpdateSerializer, responses=s.IncidentStepSerializer)
    @action(detail=True, methods=["post"])
    def steps(self, request, pk=None, format=None):
        incident = self.get_object()
        ser = s.StepUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        step = lifecycle.incident_step_set(actor=request.user, incident=incident, **ser.validated_data)
        return Response(s.IncidentStepSerializer(step).data)

    @extend_schema(request=s.IncidentCloseSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None, format=None):
        incident = self.get_object()
        ser = s.IncidentCloseSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        incident = lifecycle.incident_close(actor=request.user, incident=incident, **ser.validated_data)
        return Response(s.IncidentSerializer(Incident.objects.get(pk=incident.pk)).data)
