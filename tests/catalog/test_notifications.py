"""The owning team hears about incidents on its entities and about scorecard levels that drop."""

import pytest

from catalog import services
from catalog.models import Entity
from incidents import lifecycle
from portal.models import Notification
from tests.catalog.conftest import TEAM_YAML

pytestmark = pytest.mark.django_db


def test_starting_an_incident_on_an_entity_notifies_its_team(team, developer, teammate, stranger, platform_admin):
    from knowledge import services as knowledge

    svc = Entity.objects.get(ref_key="component:default/svc-a")
    space = knowledge.space_create(actor=platform_admin, key="ops", name="Ops", owner=None)
    runbook = knowledge.page_create(
        actor=platform_admin, space=space, title="svc-a is down", kind="runbook", body="", entity_ids=[svc.pk]
    )
    # An on-call Platform Admin outside the team starts it (a stranger may not: issue 22).
    incident = lifecycle.incident_start(actor=platform_admin, runbook=runbook, entity=svc, severity="sev1")
    for user in (developer, teammate):
        notification = Notification.objects.get(user=user, event="incident_started")
        assert notification.title == "Incident on svc-a (sev1)"
        assert notification.url == incident.get_absolute_url()
    assert not Notification.objects.filter(user__in=[stranger, platform_admin]).exists()


def test_a_dropped_scorecard_level_notifies_the_team(team, developer, platform_admin):
    card = services.scorecard_save(
        actor=platform_admin, name="Basics", rules_text="bronze: has_description\n", applies_to_kind="Component"
    )
    assert not Notification.objects.filter(event="scorecard_dropped").exists()
    services.catalog_import_text(
        text=TEAM_YAML.replace("{name: svc-a, description: Service of team A}", "{name: svc-a}"),
        name="teams",
        actor=platform_admin,
    )
    services.scorecards_evaluate(scorecard_ids=[card.pk])
    notification = Notification.objects.get(user=developer, event="scorecard_dropped")
    assert notification.title == "svc-a dropped from Bronze to No Level on Basics"
    assert "Has a description" in notification.body
