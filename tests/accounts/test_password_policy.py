"""Password sign-in can be turned off for everyone but a named break-glass account."""

import pytest
from django.urls import reverse

from portal.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def passwords_off(settings):
    settings.OIDC_ISSUER_URL = "https://sso.example.com"
    settings.OIDC_CLIENT_ID = "bridge"
    settings.PASSWORD_LOGIN_ENABLED = False
    settings.BREAK_GLASS_USERNAME = "breakglass"
    return settings


def test_with_password_sign_in_off_a_person_is_refused_and_pointed_at_the_provider(passwords_off, client, developer):
    response = client.post(reverse("login"), {"username": "dev", "password": PASSWORD})
    assert response.status_code == 200
    assert "Password sign-in is turned off" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302
    refusal = AuditEvent.objects.get(action="auth.login_refused")
    assert refusal.changes == {"reason": "password_sign_in_disabled", "username": "dev"}


def test_the_admin_sign_in_page_refuses_them_too(passwords_off, client, platform_admin):
    client.post("/admin/login/", {"username": "padmin", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302


def test_the_break_glass_account_still_signs_in_with_its_password(passwords_off, client, django_user_model):
    django_user_model.objects.create_user("breakglass", password=PASSWORD, is_superuser=True)
    page = client.get(reverse("login")).content.decode()
    assert "Emergency administrator sign-in" in page
    response = client.post(reverse("login"), {"username": "breakglass", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("home")


def test_password_sign_in_off_without_a_provider_is_a_configuration_error():
    from portal.config import sign_in_problems

    problems = sign_in_problems(
        issuer="",
        client_id="",
        password_login=False,
        break_glass="breakglass",
        role_mapping={},
        manage_platform_admins=False,
    )
    assert any("nobody could sign in" in problem for problem in problems)
