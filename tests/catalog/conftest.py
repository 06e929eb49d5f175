"""Catalog fixtures: a team with the developer and the teammate in it, and a small import helper."""

import textwrap

import pytest

from catalog import services
from catalog.models import Entity

TEAM_YAML = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a, title: Team A}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dev}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: teammate}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a, description: Service of team A}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: service, lifecycle: production, owner: team-b}
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@pytest.fixture
def import_text():
    def _import(text: str, name: str = "test", actor=None):
        return services.catalog_import_text(text=dedent(text), name=name, actor=actor)

    return _import


@pytest.fixture
def team(developer, teammate, platform_admin):
    """team-a (dev and teammate) owns svc-a; team-b owns svc-b; the Platform Admin uploaded them as "teams"."""
    result = services.catalog_import_text(text=TEAM_YAML, name="teams", actor=platform_admin)
    assert not result.problems, result.problems
    services.portal_user_link(entity=Entity.objects.get(ref_key="user:default/dev"), user=developer)
    services.portal_user_link(entity=Entity.objects.get(ref_key="user:default/teammate"), user=teammate)
    return Entity.objects.get(ref_key="group:default/team-a")


def entity(ref: str) -> Entity:
    return Entity.objects.get(ref_key=ref)
