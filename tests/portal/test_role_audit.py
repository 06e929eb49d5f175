"""Role and membership changes reach the audit log (issue #8), and the log stays append-only."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from portal.models import AuditEvent
from portal.roles import APPROVERS, DEVELOPERS, PLATFORM_ADMINS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _user_form(user, *, groups, **flags) -> dict:
    """What the admin's user change form posts, with the given roles and flags."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": [g.pk for g in Group.objects.filter(name__in=groups)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if flags.get(flag, getattr(user, flag)):
            data[flag] = "on"
    return data


def _since(start: int):
    return AuditEvent.objects.filter(pk__gt=start)


def _last_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _post_user_form(client, user, **kwargs):
    response = client.post(reverse("admin:auth_user_change", args=[user.pk]), _user_form(user, **kwargs))
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_a_role_given_in_the_admin_user_form_is_audited_with_actor_and_ip(login, platform_admin, developer):
    client = login(platform_admin)
    start = _last_id()
    _post_user_form(client, developer, groups=[DEVELOPERS, APPROVERS])

    event = _since(start).get(action="auth.role.add", object_id=str(developer.pk))
    assert event.actor == platform_admin and event.actor_name == "padmin"
    assert event.ip_address == "127.0.0.1"
    assert event.object_type == "auth.user" and event.object_repr == "dev"
    assert event.changes == {"role": APPROVERS, "before": [DEVELOPERS], "after": [APPROVERS, DEVELOPERS]}
    assert not _since(start).filter(action="auth.role.remove").exists()
    assert not _since(start).filter(action="auth.user.flags").exists()


def test_a_role_taken_away_in_the_admin_user_form_is_audited(login, platform_admin, approver):
    _post_user_form(login(platform_admin), approver, groups=[DEVELOPERS])

    event = AuditEvent.objects.get(action="auth.role.remove", object_id=str(approver.pk))
    assert event.actor == platform_admin and event.ip_address == "127.0.0.1"
    assert event.changes == {"role": APPROVERS, "before": [APPROVERS, DEVELOPERS], "after": [DEVELOPERS]}
    assert not approver.groups.filter(name=APPROVERS).exists()


def test_staff_superuser_and_active_flags_changed_in_the_admin_are_audited(login, platform_admin, developer):
    start = _last_id()
    _post_user_form(
        login(platform_admin), developer, groups=[DEVELOPERS], is_staff=True, is_superuser=True, is_active=False
    )

    event = AuditEvent.objects.get(action="auth.user.flags", object_id=str(developer.pk))
    assert event.actor == platform_admin and event.ip_address == "127.0.0.1"
    assert event.changes == {
        "is_active": {"before": True, "after": False},
        "is_staff": {"before": False, "after": True},
        "is_superuser": {"before": False, "after": True},
    }
    assert not _since(start).filter(action__startswith="auth.role.").exists()


def test_saving_the_user_form_unchanged_writes_nothing(login, platform_admin, approver):
    client = login(platform_admin)
    start = _last_id()
    _post_user_form(client, approver, groups=[DEVELOPERS, APPROVERS])
    assert not _since(start).exists()


def test_role_changes_from_code_are_audited_from_both_sides_without_an_actor(developer, teammate):
    start = _last_id()
    approvers = Group.objects.get(name=APPROVERS)
    admins = Group.objects.get(name=PLATFORM_ADMINS)

    approvers.user_set.add(developer, teammate)  # the group's side
    added = _since(start).filter(action="auth.role.add").order_by("id")
    assert [e.object_repr for e in added] == ["dev", "teammate"]
    assert all(e.actor is None and e.ip_address is None for e in added)

    developer.groups.add(admins)
    developer.groups.remove(approvers)
    developer.groups.clear()
    removed = _since(start).filter(action="auth.role.remove", object_id=str(developer.pk)).order_by("id")
    assert [(e.changes["role"], e.changes["after"]) for e in removed] == [
        (APPROVERS, [DEVELOPERS, PLATFORM_ADMINS]),
        (DEVELOPERS, []),
        (PLATFORM_ADMINS, []),
    ]


def test_signing_in_or_creating_a_plain_account_records_no_flag_change(client, django_user_model, developer):
    assert client.post(reverse("login"), {"username": "dev", "password": PASSWORD}).status_code == 302
    django_user_model.objects.create_user(username="plain", password="x" * 12)
    assert not AuditEvent.objects.filter(action="auth.user.flags").exists()
    django_user_model.objects.create_superuser(username="root", password="x" * 12)
    event = AuditEvent.objects.get(action="auth.user.flags")
    assert event.object_repr == "root" and event.changes["is_superuser"] == {"before": None, "after": True}


def test_role_events_stay_append_only(login, client, platform_admin, developer):
    admin_client = login(platform_admin)
    start = _last_id()
    _post_user_form(admin_client, developer, groups=[DEVELOPERS, APPROVERS])
    first = _since(start).get(action="auth.role.add", object_id=str(developer.pk))
    snapshot = (first.actor_id, first.action, first.changes, first.created_at, first.ip_address)

    _post_user_form(admin_client, developer, groups=[DEVELOPERS])  # a later change adds a row...
    first.refresh_from_db()  # ... and leaves the earlier one as it was
    assert (first.actor_id, first.action, first.changes, first.created_at, first.ip_address) == snapshot
    assert _since(start).filter(object_id=str(developer.pk), action__startswith="auth.role.").count() == 2

    assert admin_client.get(f"/admin/portal/auditevent/{first.pk}/delete/").status_code == 403
    admin_client.post(f"/admin/portal/auditevent/{first.pk}/change/", {"action": "forged"})
    assert admin_client.delete(f"/api/audit/{first.pk}/").status_code == 405
    assert admin_client.put(f"/api/audit/{first.pk}/", {}, content_type="application/json").status_code == 405
    first.refresh_from_db()
    assert first.action == "auth.role.add"
