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
