import json
import uuid

import pytest

from pipelines import secrets, services
from pipelines.models import Delivery, DeliveryStatus


@pytest.fixture(autouse=True)
def queued_drains(monkeypatch):
    """Receivers kick a drain through Celery on commit; the tests process deliveries themselves
    (``process_pending``) unless they start the real worker. The drains that would have been queued
    are recorded here (their ``countdown``, ``None`` for at once)."""
    from django.conf import settings
    from django.core.cache import caches

    from pipelines import tasks

    queued = []
    monkeypatch.setattr(tasks.process_delivery, "delay", lambda pk: None)
    monkeypatch.setattr(tasks.drain_deliveries, "apply_async", lambda *a, countdown=None, **k: queued.append(countdown))
    caches[settings.PIPELINES_KICK_CACHE].delete(services.KICK_KEY)
    yield queued
    caches[settings.PIPELINES_KICK_CACHE].delete(services.KICK_KEY)


@pytest.fixture
def github(platform_admin):
    return services.integration_create(actor=platform_admin, provider="github", name="GitHub acme", repositories=["*"])


@pytest.fixture
def gitlab(platform_admin):
    return services.integration_create(actor=platform_admin, provider="gitlab", name="GitLab shop", repositories=["*"])


@pytest.fixture
def generic(platform_admin):
    return services.integration_create(actor=platform_admin, provider="generic", name="Jenkins", repositories=["*"])


def process_pending():
    for pk in Delivery.objects.filter(status=DeliveryStatus.PENDING).order_by("pk").values_list("pk", flat=True):
        services.delivery_process(delivery_pk=pk)


@pytest.fixture
def send_github(client, github):
    def _send(event, payload, delivery=None, secret=None, process=True, **headers):
        body = json.dumps(payload).encode()
        response = client.post(
            github.integration.receiver_path(),
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT=event,
            HTTP_X_GITHUB_DELIVERY=delivery or str(uuid.uuid4()),
            HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(secret or github.secret, body),
            **headers,
        )
        if process:
            process_pending()
        return response

    return _send


@pytest.fixture
def send_gitlab(client, gitlab):
    def _send(event, payload, delivery=None, token=None, process=True):
        response = client.post(
            gitlab.integration.receiver_path(),
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_X_GITLAB_EVENT=event,
            HTTP_X_GITLAB_TOKEN=token or gitlab.secret,
            HTTP_IDEMPOTENCY_KEY=delivery or str(uuid.uuid4()),
        )
        if process:
            process_pending()
        return response

    return _send


@pytest.fixture
def send_generic(client, generic):
    def _send(payload, token=None, process=True, **headers):
        response = client.post(
            generic.integration.receiver_path(),
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token or generic.secret}",
            **headers,
        )
        if process:
            process_pending()
        return response

    return _send
