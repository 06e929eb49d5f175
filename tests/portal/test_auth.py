import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from portal.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_three_role_groups_exist_after_migrating():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Developers", "Approvers", "Platform Admins"}


def test_a_user_signs_in_with_the_right_password_and_lands_on_home(client, developer):
    response = client.post(reverse("login"), {"username": "dev", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).context["user"] == developer
    assert AuditEvent.objects.filter(action="auth.login", actor=developer).exists()


def test_a_wrong_password_is_refused_with_a_message_and_recorded(client, developer):
    response = client.post(reverse("login"), {"username": "dev", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed", changes__username="dev").exists()


def test_signing_out_ends_the_session(client, developer):
    client.force_login(developer)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for name in ("home", "profile", "catalog:index", "provisioning:index", "pipelines:index", "knowledge:index"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("login")), name


def test_the_admin_is_open_to_platform_admins_only(client, developer, approver, platform_admin):
    for user in (developer, approver):
        client.force_login(user)
        response = client.get("/admin/")
        assert response.status_code == 302, user.username
        assert "/admin/login/" in response.url
    client.force_login(platform_admin)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200


def test_the_profile_shows_roles_and_teams(login, approver):
    body = login(approver).get(reverse("profile")).content.decode()
    assert "Approvers" in body and "Developers" in body
    assert "You are not in a team" in body
