"""The payments team, its checkout-api service and runbook, and an Alertmanager receiver."""

import copy
import json
from pathlib import Path

import pytest

from catalog import services as catalog
from catalog.models import Entity
from knowledge import services as knowledge
from tests.knowledge.conftest import make_team

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def payload(name: str) -> dict:
    """A webhook body recorded from Debian's prometheus-alertmanager 0.25.0 (see its README)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture(autouse=True)
def _base_url(settings):
    # The recorded alert's runbook_url points at http://127.0.0.1:8000/knowledge/s/payments/p/checkout-is-down/.
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    settings.CHAT_WEBHOOK_ALLOW_HTTP = settings.CHAT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def team(developer, teammate):
    return make_team("team-payments", developer, teammate)


def add_service(name: str, owner: str, annotations: str = "") -> Entity:
    meta = f"{{name: {name}{', annotations: {' + annotations + '}' if annotations else ''}}}"
    catalog.catalog_import_text(
        text=f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {meta}\n"
        f"spec: {{type: service, lifecycle: production, owner: {owner}}}\n",
        name=name,
    )
    return Entity.objects.get(ref_key=f"component:default/{name}")


@pytest.fixture
def service(team):
    return add_service("checkout-api", team.name)


@pytest.fixture
def space(team, developer):
    return knowledge.space_create(actor=developer, key="payments", name="Payments", owner=team)


@pytest.fixture
def page(space, developer):
    return knowledge.page_create(actor=developer, space=space, title="Checkout overview", body="# Checkout\n\nHello.")


@pytest.fixture
def runbook(space, developer, service):
    return knowledge.page_create(
        actor=developer,
        space=space,
        title="Checkout is down",
        kind="runbook",
        body="# Checkout is down\n\n- [ ] Check the dashboard\n- [ ] Roll back\n",
        entity_ids=[service.pk],
    )


@pytest.fixture
def receiver():
    from incidents import services

    receiver, token = services.receiver_create(name="prod-alertmanager")
    receiver.token = token
    return receiver


@pytest.fixture(autouse=True)
def queued_applies(request, monkeypatch):
    """The receiver queues each stored notification for a worker on commit. These tests apply them
    in the test process (``post_alerts`` does) unless they start the real worker; the pks that would
    have gone to the broker are kept here."""
    from incidents import tasks

    queued: list[int] = []
    if "celery_worker" in request.fixturenames:
        return queued  # the real worker takes them from the broker
    monkeypatch.setattr(tasks.apply_notification, "delay", lambda pk: queued.append(pk))
    return queued


@pytest.fixture
def post_alerts(client, receiver):
    """``post_alerts(body)`` sends a notification as Alertmanager does (Bearer token), then applies
    it as the worker would. The response's ``applied`` is the stored notification afterwards (what it
    changed), or None when nothing was stored."""
    from incidents import services
    from incidents.models import AlertNotification

    def post(body, *, token=None, **headers):
        response = client.post(
            "/api/incidents/alertmanager/",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token if token is not None else receiver.token}",
            **headers,
        )
        response.applied = None
        stored = response.json().get("notification") if response.status_code == 202 else None
        if stored:
            services.notification_apply(notification_pk=stored)
            response.applied = AlertNotification.objects.get(pk=stored)
        return response

    return post
