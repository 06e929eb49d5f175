"""A team (catalog Group) with developer and teammate as members, and its space."""

import pytest

from catalog import services as catalog
from catalog.models import Entity
from knowledge import services


def make_team(name: str, *users) -> Entity:
    """A catalog Group whose members are these portal users, imported as a team would import it."""
    documents = [
        "apiVersion: backstage.io/v1alpha1\nkind: Group\n"
        f"metadata: {{name: {name}}}\nspec: {{type: team, children: []}}\n"
    ]
    documents += [
        "apiVersion: backstage.io/v1alpha1\nkind: User\n"
        f"metadata: {{name: {user.username}}}\nspec: {{memberOf: [{name}]}}\n"
        for user in users
    ]
    result = catalog.catalog_import_text(text="---\n".join(documents), name=f"team-{name}")
    assert not result.problems, result.problems
    for user in users:
        catalog.portal_user_link(entity=Entity.objects.get(ref_key=f"user:default/{user.username}"), user=user)
    return Entity.objects.get(ref_key=f"group:default/{name}")


@pytest.fixture
def team(developer, teammate):
    return make_team("team-payments", developer, teammate)


@pytest.fixture
def service(team):
    catalog.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: checkout-api}\n"
        f"spec: {{type: service, lifecycle: production, owner: {team.name}}}\n",
        name="checkout-api",
    )
    return Entity.objects.get(ref_key="component:default/checkout-api")


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
