import pytest

from knowledge import permissions, services
from portal.services import PermissionDenied

pytestmark = pytest.mark.django_db


def test_everyone_signed_in_reads_a_space(space, stranger):
    assert permissions.can_read_space(stranger, space)


def test_the_owning_team_edits_its_space(space, teammate):
    assert permissions.can_edit_space(teammate, space)


def test_a_stranger_cannot_edit_a_team_space(space, stranger):
    assert not permissions.can_edit_space(stranger, space)
    with pytest.raises(PermissionDenied):
        services.page_create(actor=stranger, space=space, title="Sneaky")


def test_anyone_edits_an_open_space_but_cannot_manage_it(space, stranger):
    space.open_for_edit = True
    space.save()
    assert permissions.can_edit_space(stranger, space)
    assert not permissions.can_manage_space(stranger, space)
    page = services.page_create(actor=stranger, space=space, title="Welcome")
    assert page.revisions.count() == 1


def test_a_platform_admin_edits_and_manages_any_space(space, platform_admin):
    assert permissions.can_edit_space(platform_admin, space)
    assert permissions.can_manage_space(platform_admin, space)


def test_only_team_members_create_a_space_for_their_team(team, stranger, developer):
    with pytest.raises(PermissionDenied):
        services.space_create(actor=stranger, key="x", name="X", owner=team)
    assert services.space_create(actor=developer, key="x", name="X", owner=team).owner == team


def test_an_anonymous_user_reads_nothing(space):
    from django.contrib.auth.models import AnonymousUser

    assert not permissions.can_read_space(AnonymousUser(), space)


def test_a_member_cannot_hand_the_space_to_a_team_they_are_not_in(login, space, developer, stranger, platform_admin):
    from knowledge.models import Space
    from tests.knowledge.conftest import make_team

    other = make_team("team-search", stranger)
    settings = {"name": space.name, "description": "", "owner": other.pk}
    response = login(developer).post(f"/knowledge/s/{space.key}/settings/", settings)
    assert response.status_code == 200
    assert "You can hand the space only to a team you are a member of" in response.content.decode()
    assert Space.objects.get(pk=space.pk).owner_id != other.pk
    with pytest.raises(PermissionDenied):
        services.space_update(actor=developer, space=space, name="P", description="", owner=None, open_for_edit=False)
    api = login(developer).patch(
        f"/api/knowledge/spaces/{space.key}/", {"owner_id": other.pk}, content_type="application/json"
    )
    assert api.status_code == 403 and Space.objects.get(pk=space.pk).owner_id != other.pk

    services.space_update(actor=platform_admin, space=space, name="P", description="", owner=other, open_for_edit=False)
    assert Space.objects.get(pk=space.pk).owner_id == other.pk
    # A member of the new team now changes the space, keeping it with their team.
    space.refresh_from_db()
    services.space_update(actor=stranger, space=space, name="Q", description="", owner=other, open_for_edit=False)
    assert Space.objects.get(pk=space.pk).name == "Q"
