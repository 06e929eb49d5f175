"""A team (catalog Group) with developer and teammate as members, and its space."""

import pytest

from catalog.models import Entity, Kind
from catalog.services import entity_ref, relation_add
from knowledge import services


def make_team(name: str, *users) -> Entity:
    team = Entity.objects.create(kind=Kind.GROUP, name=name, spec_type="team")
    for user in users:
        person, _ = Entity.objects.get_or_create(kind=Kind.USER, name=user.username, defaults={"portal_user": user})
        relation_add(source=team, type="hasMember", target_ref=entity_ref(Kind.USER, "default", user.username))
    return team


@pytest.fixture
def team(developer, teammate):
    return make_team("team-payments", developer, teammate)


@pytest.fixture
def service(team):
    component = Entity.objects.create(kind=Kind.COMPONENT, name="checkout-api", spec_type="service")
    relation_add(source=component, type="ownedBy", target_ref=entity_ref(Kind.GROUP, "default", team.name))
    return component


@pytest.fixture
def space(team, developer):
    return services.space_create(actor=developer, key="payments", name="Payments", owner=team)


@pytest.fixture
def page(space, developer):
    return services.page_create(actor=developer, space=space, title="Checkout overview", body="# Checkout\n\nHello.")


@pytest.fixture
def runbook(space, developer, service):
    return services.page_create(
        actor=developer,
        space=space,
        title="Checkout is down",
        kind="runbook",
        body="# Checkout is down\n\n- [ ] Check the dashboard\n- [ ] Roll back\n\n```\n- [ ] not a step\n```\n",
        entity_ids=[service.pk],
    )
