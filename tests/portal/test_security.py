import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_pages_carry_a_strict_content_security_policy(login, developer):
    response = login(developer).get(reverse("home"))
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "path", ["/", "/accounts/profile/", "/notifications/", "/notifications/preferences/", "/api/docs/"]
)
def test_pages_have_no_inline_scripts_or_event_handlers(login, developer, path):
    body = login(developer).get(path).content.decode()
    assert not INLINE_SCRIPT.search(body), path
    assert not EVENT_HANDLER.search(body), path


def test_the_login_page_has_no_inline_scripts(client):
    body = client.get(reverse("login")).content.decode()
    assert not INLINE_SCRIPT.search(body)


def test_forms_refuse_posts_without_a_csrf_token(developer):
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("login"), {"username": "dev", "password": PASSWORD}).status_code == 403
    client.force_login(developer)
    assert client.post(reverse("token-create"), {"name": "x"}).status_code == 403
    assert not developer.api_tokens.exists()


def test_forms_accept_posts_with_the_csrf_token(developer):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("login"), {"username": "dev", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_the_session_api_needs_csrf_too(developer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(developer)
    response = client.post("/api/tokens/", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_repeated_wrong_passwords_lock_the_account_out_for_that_address(client, developer):
    for _ in range(5):
        client.post(reverse("login"), {"username": "dev", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "dev", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    other_address = client.post(reverse("login"), {"username": "dev", "password": PASSWORD}, REMOTE_ADDR="10.9.8.7")
    assert other_address.status_code == 302


@pytest.mark.parametrize(
    "path",
    [
        "/api/knowledge/search/?q=a%00b",
        "/search/?q=a%00b",
        "/catalog/?q=%00",
        "/catalog/Component/default/a%00b/",
        "/api/catalog/entities/by-ref/component:default/a%00b/",
    ],
)
def test_a_nul_character_in_the_address_is_a_clear_400(login, developer, path):
    response = login(developer).get(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
