"""Webhook receivers: verify, validate, store raw, queue processing, answer 202.

They are DRF views so that the OpenAPI schema documents them, without
session authentication (so without CSRF): a delivery proves itself by its
signature or token. Verification comes first; nothing is stored for a
delivery that fails it, nor for one that is malformed.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from pipelines import providers, secrets, services
from pipelines.models import DeliveryStatus, Integration, Provider
from portal.api.renderers import OrjsonRenderer
from portal.db import row_by
from portal.services import ServiceError

KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-Gitlab-Event",
    "X-Gitlab-Event-UUID",
    "X-Gitlab-Webhook-UUID",
    "Idempotency-Key",
)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is larger than this receiver accepts."
    default_code = "too_large"


ACCEPTED = inline_serializer(
    "DeliveryAccepted",
    {
        "delivery": serializers.CharField(),
        "status": serializers.ChoiceField(choices=DeliveryStatus.choices),
        "duplicate": serializers.BooleanField(),
    },
)
ERRORS = {
    400: OpenApiResponse(description="Malformed JSON, a missing header or a payload missing fields; nothing stored."),
    401: OpenApiResponse(description="The signature or token does not verify; nothing stored."),
    403: OpenApiResponse(
        description="The integration is not scoped to this repository (or its owners); recorded as refused."
    ),
    404: OpenApiResponse(description="No integration of this provider has this id."),
    413: OpenApiResponse(description="The body is over PIPELINES_MAX_BODY_BYTES."),
    415: OpenApiResponse(description="The body is not application/json."),
}


class Receiver(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # the API's throttles count people and tokens; a delivery is neither
    renderer_classes = [OrjsonRenderer]  # senders are machines: no browsable page to negotiate
    provider = ""
    scheme = "Signature"

    def get_authenticate_header(self, request):
        return self.scheme

    def _integration(self, public_id) -> Integration:
        # Written out rather than built by the ORM: this lookup runs for every delivery, and Django took
        # longer to build its SQL (about 0.4 ms of CPU) than to insert the delivery itself.
        integration = row_by(Integration, public_id=public_id, provider=self.provider)
        if integration is None:
            raise exceptions.NotFound("No integration has this receiver URL.")
        return integration

    def _body(self, request) -> bytes:
        limit = settings.PIPELINES_MAX_BODY_BYTES
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
        return body

    def verify(self, request, integration: Integration, body: bytes) -> None:
        raise NotImplementedError

    def event_and_delivery(self, request, body: bytes, payload: dict) -> tuple[str, str]:
        raise NotImplementedError

    def post(self, request, public_id):
        integration = self._integration(public_id)
        body = self._body(request)
        self.verify(request, integration, body)
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise exceptions.UnsupportedMediaType(
                content_type or "none", detail="Send the payload as application/json (in GitHub: Content type JSON)."
            )
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise exceptions.ParseError("The body is not valid JSON.") from None
        except RecursionError:
            raise exceptions.ParseError("The JSON is nested too deeply for a webhook payload.") from None
        event, delivery_id = self.event_and_delivery(request, body, payload)
        try:
            parsed = providers.parse(self.provider, event, payload)
            services.delivery_validate(parsed)
        except (providers.PayloadError, ServiceError) as exc:
            raise exceptions.ValidationError({"detail": str(exc)}, code="invalid_payload") from None
        refusal = services.delivery_scope_refusal(integration, parsed)
        headers = {name: request.headers[name][:300] for name in KEPT_HEADERS if name in request.headers}
        received = services.delivery_receive(
            integration=integration,
            delivery_id=delivery_id,
            event=event,
            headers=headers,
            body=text,
            parsed=parsed,
            refusal=refusal,
        )
        if refusal:  # recorded as refused above (its own transaction), then answered 403
            raise exceptions.PermissionDenied(refusal)
        return Response(
            {
                "delivery": received.delivery.delivery_id,
                "status": received.delivery.status,
                "duplicate": received.duplicate,
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _secret(integration: Integration) -> str:
    secret = secrets.decrypt(integration.secret_encrypted)
    if secret is None:  # the encryption key changed: nothing can verify until the secret is rotated
        raise exceptions.AuthenticationFailed("This integration's secret cannot be read; rotate it.")
    if not secret:  # an empty key would let anyone sign: never verify with one
        raise exceptions.AuthenticationFailed("This integration has no secret; a Platform Admin sets one.")
    return secret


def _content_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class GitHubReceiver(Receiver):
    provider = Provider.GITHUB

    @extend_schema(
        operation_id="pipelines_hook_github",
        summary="GitHub webhook receiver",
        description=(
            "Configure as the Payload URL of a GitHub repository or organisation webhook, content type "
            "application/json, with the integration's secret. Verifies X-Hub-Signature-256 (HMAC-SHA256 of the raw "
            "body). Events used: workflow_run, workflow_job, check_suite, check_run, status, deployment_status, "
            "push, ping; others are recorded as ignored. Redelivering the same X-GitHub-Delivery is harmless."
        ),
        parameters=[
            OpenApiParameter("X-Hub-Signature-256", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-GitHub-Event", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-GitHub-Delivery", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: ACCEPTED, **ERRORS},
        tags=["pipelines webhooks"],
        auth=[],
    )
    def post(self, request, public_id):
        return super().post(request, public_id)

    def verify(self, request, integration, body):
        header = request.headers.get("X-Hub-Signature-256", "")
        if not header:
            raise exceptions.AuthenticationFailed("The X-Hub-Signature-256 header is missing.")
        if not secrets.verify_github_signature(secret=_secret(integration), body=body, header=header):
            raise exceptions.AuthenticationFailed("The signature does not match this integration's secret.")

    def event_and_delivery(self, request, body, payload):
        event = request.headers.get("X-GitHub-Event", "").strip()
        delivery = request.headers.get("X-GitHub-Delivery", "").strip()
        if not event:
            raise exceptions.ParseError("The X-GitHub-Event header is missing.")
        if not delivery:
            raise exceptions.ParseError("The X-GitHub-Delivery header is missing.")
        return event, delivery


class GitLabReceiver(Receiver):
    provider = Provider.GITLAB
    scheme = "Token"

    @extend_schema(
        operation_id="pipelines_hook_gitlab",
        summary="GitLab webhook receiver",
        description=(
            "Configure as a GitLab project or group webhook URL with the integration's secret as Secret token, "
            "triggers Pipeline events, Job events and Deployment events. Verifies X-Gitlab-Token in constant time. "
            "The delivery id is Idempotency-Key, else X-Gitlab-Webhook-UUID, else a hash of the body."
        ),
        parameters=[
            OpenApiParameter("X-Gitlab-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Gitlab-Event", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER),
            OpenApiParameter("X-Gitlab-Webhook-UUID", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: ACCEPTED, **ERRORS},
        tags=["pipelines webhooks"],
        auth=[],
    )
    def post(self, request, public_id):
        return super().post(request, public_id)

    def verify(self, request, integration, body):
        token = request.headers.get("X-Gitlab-Token", "")
        if not token:
            raise exceptions.AuthenticationFailed("The X-Gitlab-Token header is missing.")
        if not secrets.verify_token(secret=_secret(integration), presented=token):
            raise exceptions.AuthenticationFailed("The token does not match this integration's secret.")

    def event_and_delivery(self, request, body, payload):
        event = request.headers.get("X-Gitlab-Event", "").strip()
        if not event:
            raise exceptions.ParseError("The X-Gitlab-Event header is missing.")
        delivery = (
            request.headers.get("Idempotency-Key", "").strip()
            or request.headers.get("X-Gitlab-Webhook-UUID", "").strip()
            or _content_hash(body)
        )
        return event, delivery


class GenericReceiver(Receiver):
    provider = Provider.GENERIC
    scheme = "Bearer"

    @extend_schema(
        operation_id="pipelines_hook_generic",
        summary="Generic CI receiver (Jenkins, CircleCI, scripts)",
        description=(
            "POST one JSON event with `Authorization: Bearer <integration secret>`. `type` is `run`, `deployment` "
            "or `incident`; the fields of each are listed in the Bridge documentation (docs/pipelines/api.md). "
            "The delivery id is the Idempotency-Key header, else the body's `delivery_id`, else a hash of the body."
        ),
        parameters=[
            OpenApiParameter("Authorization", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: ACCEPTED, **ERRORS},
        tags=["pipelines webhooks"],
        auth=[],
    )
    def post(self, request, public_id):
        return super().post(request, public_id)

    def verify(self, request, integration, body):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Send the integration's secret as `Authorization: Bearer <secret>`.")
        if not secrets.verify_token(secret=_secret(integration), presented=token.strip()):
            raise exceptions.AuthenticationFailed("The token does not match this integration's secret.")

    def event_and_delivery(self, request, body, payload):
        event = str(payload.get("type", ""))[:100] if isinstance(payload, dict) else ""
        delivery = request.headers.get("Idempotency-Key", "").strip()
        if not delivery and isinstance(payload, dict) and payload.get("delivery_id"):
            delivery = str(payload["delivery_id"])
        return event, delivery or _content_hash(body)
