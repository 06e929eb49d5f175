"""Each mapping rule: alert labels to a service, to a runbook, to a severity."""

import pytest

from incidents import mapping
from knowledge import services as knowledge
from tests.incidents.conftest import add_service

pytestmark = pytest.mark.django_db


def test_the_service_label_names_the_entity(service):
    assert mapping.entity_for({"service": "checkout-api"}) == (service, "service")


def test_labels_are_tried_in_the_configured_order(service, team, settings):
    other = add_service("checkout-worker", team.name)
    labels = {"app": "checkout-worker", "service": "checkout-api"}
    assert mapping.entity_for(labels)[0] == service
    settings.INCIDENTS_ENTITY_LABELS = ["app", "service"]
    assert mapping.entity_for(labels) == (other, "app")


def test_the_kubernetes_id_annotation_matches_the_kubernetes_name_label(team):
    entity = add_service("payments-gateway", team.name, annotations='"backstage.io/kubernetes-id": "pgw"')
    assert mapping.entity_for({"app.kubernetes.io/name": "pgw"}) == (entity, "app.kubernetes.io/name")
    assert mapping.entity_for({"backstage_io_kubernetes_id": "pgw"})[0] == entity


def test_a_full_ref_and_names_in_any_case_match_but_teams_never_do(service, team):
    assert mapping.entity_for({"service": "component:default/checkout-api"})[0] == service
    assert mapping.entity_for({"service": "Checkout-API"})[0] == service
    assert mapping.entity_for({"service": team.name}) == (None, "")
    assert mapping.entity_for({"instance": "checkout-api"}) == (None, "")


def test_runbook_url_pointing_at_bridge_wins(runbook, service, space, developer):
    other = knowledge.page_create(actor=developer, space=space, title="Other", kind="runbook", entity_ids=[service.pk])
    url = "http://127.0.0.1:8000" + other.get_absolute_url()
    assert mapping.runbook_for(labels={}, annotations={"runbook_url": url}, entity=service) == other
    # A runbook elsewhere (a wiki outside Bridge) is not guessed at: the service's rules apply.
    foreign = {"runbook_url": "https://wiki.example.com" + other.get_absolute_url()}
    assert mapping.runbook_for(labels={"alertname": "X"}, annotations=foreign, entity=service) is None


def test_a_runbook_label_names_a_page(runbook, service, space, developer):
    other = knowledge.page_create(actor=developer, space=space, title="Disk full", kind="runbook")
    assert mapping.runbook_for(labels={"runbook": "payments/disk-full"}, annotations={}, entity=service) == other
    assert mapping.runbook_for(labels={"runbook": "disk-full"}, annotations={}, entity=None) == other


def test_the_services_runbook_tagged_with_the_alert_name_then_its_only_runbook(runbook, service, space, developer):
    assert mapping.runbook_for(labels={"alertname": "CheckoutDown"}, annotations={}, entity=service) == runbook
    tagged = knowledge.page_create(
        actor=developer, space=space, title="High latency", kind="runbook", entity_ids=[service.pk],
        tags=["CheckoutLatencyHigh"],
    )  # fmt: skip
    assert mapping.runbook_for(labels={"alertname": "CheckoutLatencyHigh"}, annotations={}, entity=service) == tagged
    # Two runbooks and no tag for this alert: none is guessed.
    assert mapping.runbook_for(labels={"alertname": "CheckoutDown"}, annotations={}, entity=service) is None


@pytest.mark.parametrize(
    "label, expected", [("critical", "sev1"), ("warning", "sev3"), ("info", "sev4"), ("sev2", "sev2"), ("", "sev3")]
)
def test_severity_comes_from_the_severity_label(label, expected):
    assert mapping.severity_for({"severity": label}) == expected


def test_the_severity_mapping_is_configurable(settings):
    settings.INCIDENTS_SEVERITY_MAP = {"p1": "sev1"}
    assert mapping.severity_for({"severity": "P1"}) == "sev1"


def test_auto_resolve_follows_the_annotation_then_the_site_default(team, service, settings):
    assert mapping.auto_resolves(service) is True
    settings.INCIDENTS_AUTO_RESOLVE = False
    assert mapping.auto_resolves(service) is False
    keen = add_service("keen", team.name, annotations='"bridge.io/auto-resolve": "true"')
    assert mapping.auto_resolves(keen) is True
