"""Team membership changes reach the audit log (issue #8).

Catalog Groups are the portal's teams: an account is in a team when its linked
User entity is a member. So linking and unlinking accounts, and membership that
imports or edits change, are audited.
"""

import pytest
from django.urls import reverse

from catalog import services
from catalog.models import Entity
from portal.models import AuditEvent
from tests.catalog.conftest import TEAM_YAML, dedent

pytestmark = pytest.mark.django_db


def _last_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _since(start: int):
    return AuditEvent.objects.filter(pk__gt=start).order_by("pk")


def _person(name: str) -> Entity:
    return Entity.objects.get(ref_key=f"user:default/{name}")


def test_linking_an_account_is_audited_with_the_teams_it_joins(platform_admin, developer):
    services.catalog_import_text(text=TEAM_YAML, name="teams")
    start = _last_id()

    services.portal_user_link(entity=_person("dev"), user=developer, actor=platform_admin)

    event = _since(start).get()
    assert event.action == "catalog.user.link" and event.actor == platform_admin
    assert event.object_type == "catalog.entity" and event.object_repr == "user:default/dev"
    assert event.changes == {"portal_user": {"before": None, "after": "dev"}, "teams": ["group:default/team-a"]}

    services.portal_user_link(entity=_person("dev"), user=developer, actor=platform_admin)
    assert _since(event.pk).count() == 0  # linking again changes nothing


def test_moving_an_account_to_another_user_entity_records_the_unlink_too(team, platform_admin, developer):
    start = _last_id()
    services.portal_user_link(entity=_person("teammate"), user=developer, actor=platform_admin)

    actions = [(e.action, e.object_repr, e.changes["portal_user"]) for e in _since(start)]
    assert actions == [
        ("catalog.user.unlink", "user:default/dev", {"before": "dev", "after": None}),
        ("catalog.user.link", "user:default/teammate", {"before": "teammate", "after": "dev"}),
    ]
    assert _person("dev").portal_user is None and _person("teammate").portal_user == developer


def test_unlinking_is_audited_and_takes_the_account_out_of_its_teams(team, platform_admin, developer):
    from catalog.selectors import teams_of

    start = _last_id()
    services.portal_user_unlink(entity=_person("dev"), actor=platform_admin)

    event = _since(start).get()
    assert event.action == "catalog.user.unlink" and event.actor == platform_admin
    assert event.changes == {"portal_user": {"before": "dev", "after": None}, "teams": ["group:default/team-a"]}
    assert not teams_of(developer).exists()


def test_linking_in_the_admin_goes_through_the_service_with_actor_and_ip(team, login, platform_admin, stranger):
    client = login(platform_admin)
    person = services.entity_save(
        actor=platform_admin,
        document={"kind": "User", "metadata": {"name": "stranger"}, "spec": {"memberOf": ["team-b"]}},
    )
    start = _last_id()
    url = reverse("admin:catalog_entity_change", args=[person.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in ("title", "description", "spec_type", "lifecycle")}
    data.update(
        {"labels": "{}", "annotations": "{}", "tags": "[]", "links": "[]", "api_version": "backstage.io/v1alpha1"}
    )
    data.update({"relations-TOTAL_FORMS": "0", "relations-INITIAL_FORMS": "0"})
    response = client.post(url, {**data, "portal_user": str(stranger.pk)})
    assert response.status_code == 302, response.context["adminform"].form.errors

    event = _since(start).get()
    assert event.action == "catalog.user.link" and event.actor == platform_admin
    assert event.ip_address == "127.0.0.1"
    assert event.changes == {"portal_user": {"before": None, "after": "stranger"}, "teams": ["group:default/team-b"]}

    start = event.pk
    response = client.post(url, {**data, "portal_user": ""})
    assert response.status_code == 302
    assert [(e.action, e.changes["portal_user"]["before"]) for e in _since(start)] == [
        ("catalog.user.unlink", "stranger")
    ]


def test_membership_changes_arriving_through_an_import_are_audited(team, platform_admin):
    start = _last_id()
    changed = TEAM_YAML.replace(
        "metadata: {name: teammate}\nspec: {memberOf: [team-a]}",
        "metadata: {name: teammate}\nspec: {memberOf: [team-b]}",
    )
    assert changed != TEAM_YAML
    services.catalog_import_text(text=changed, name="teams", actor=platform_admin)

    event = _since(start).get(action="catalog.membership.change")
    assert event.actor == platform_admin
    assert event.changes["added"] == [{"group": "group:default/team-b", "user": "user:default/teammate"}]
    assert event.changes["removed"] == [{"group": "group:default/team-a", "user": "user:default/teammate"}]
    assert (event.changes["added_count"], event.changes["removed_count"]) == (1, 1)
    assert _since(start).filter(action="catalog.import").exists()

    services.catalog_import_text(text=changed, name="teams", actor=platform_admin)  # the same file again
    assert not _since(event.pk).exists()


def test_an_import_that_changes_no_membership_writes_no_membership_event(team, platform_admin):
    start = _last_id()
    changed = TEAM_YAML.replace("Service of team A", "The service of team A")
    services.catalog_import_text(text=changed, name="teams", actor=platform_admin)
    assert [e.action for e in _since(start)] == ["catalog.import"]


def test_a_membership_still_declared_by_the_other_side_is_not_reported(team, platform_admin):
    # team-a lists dev among its members too, in another file: dev's own memberOf can go without dev leaving.
    services.catalog_import_text(
        text=dedent(
            """
            apiVersion: backstage.io/v1alpha1
            kind: Group
            metadata: {name: team-c}
            spec: {type: team, members: [dev]}
            """
        ),
        name="team-c",
    )
    services.catalog_import_text(
        text=TEAM_YAML.replace(
            "metadata: {name: dev}\nspec: {memberOf: [team-a]}",
            "metadata: {name: dev}\nspec: {memberOf: [team-a, team-c]}",
        ),
        name="teams",
        actor=platform_admin,
    )
    start = _last_id()
    services.catalog_import_text(text=TEAM_YAML, name="teams", actor=platform_admin)  # dev drops team-c himself
    assert not _since(start).filter(action="catalog.membership.change").exists()


def test_editing_or_deleting_a_group_records_its_membership_change(team, platform_admin):
    start = _last_id()
    services.entity_save(
        actor=platform_admin,
        document={"kind": "Group", "metadata": {"name": "team-d"}, "spec": {"type": "team", "members": ["dev"]}},
    )
    event = _since(start).get(action="catalog.membership.change")
    assert event.actor == platform_admin
    assert event.changes["added"] == [{"group": "group:default/team-d", "user": "user:default/dev"}]

    services.entity_delete(actor=platform_admin, entity=Entity.objects.get(ref_key="group:default/team-d"))
    event = _since(event.pk).get(action="catalog.membership.change")
    assert event.changes["removed"] == [{"group": "group:default/team-d", "user": "user:default/dev"}]


def test_deleting_a_linked_user_entity_records_the_unlink(team, platform_admin):
    start = _last_id()
    services.entity_delete(actor=platform_admin, entity=_person("dev"))
    actions = [e.action for e in _since(start)]
    assert actions == ["catalog.entity.delete", "catalog.user.unlink", "catalog.membership.change"]
