"""Session limits (idle, absolute, ended on password change and role loss) and the operational endpoints."""

import time

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from portal.accounts.signals import SEEN_AT, SIGNED_IN_AT
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _age_session(client, *, signed_in_ago: int = 0, seen_ago: int = 0):
    session = client.session
    now = int(time.time())
    session[SIGNED_IN_AT] = now - signed_in_ago
    session[SEEN_AT] = now - seen_ago
    session.save()


def test_a_session_idle_for_longer_than_the_limit_ends(login, developer, settings):
    settings.SESSION_IDLE_SECONDS = 8 * 3600
    client = login(developer)
    _age_session(client, signed_in_ago=9 * 3600, seen_ago=8 * 3600 + 5)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert AuditEvent.objects.get(action="auth.session_expired").changes == {"reason": "idle"}
    assert "without activity" in client.get(reverse("login")).content.decode()


def test_an_active_session_ends_at_its_absolute_lifetime(login, developer, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 7 * 24 * 3600
    client = login(developer)
    _age_session(client, signed_in_ago=7 * 24 * 3600 + 5, seen_ago=10)
    assert client.get(reverse("home")).status_code == 302
    assert AuditEvent.objects.get(action="auth.session_expired").changes == {"reason": "absolute"}


def test_an_active_session_inside_both_limits_goes_on(login, developer):
    client = login(developer)
    _age_session(client, signed_in_ago=3600, seen_ago=600)
    assert client.get(reverse("home")).status_code == 200
    assert client.session[SEEN_AT] >= int(time.time()) - 5  # the idle clock restarted


def test_a_password_change_ends_the_other_sessions(client, login, developer):
    from django.test import Client

    other = Client()
    other.force_login(developer)
    developer.set_password("a-new-long-password-42")
    developer.save()
    assert other.get(reverse("home")).status_code == 302


def test_losing_a_role_ends_every_session_of_that_person(login, approver):
    from django.test import Client

    laptop, phone = Client(), Client()
    laptop.force_login(approver)
    phone.force_login(approver)
    approver.groups.remove(Group.objects.get(name="Approvers"))
    assert laptop.get(reverse("home")).status_code == 302
    assert phone.get(reverse("home")).status_code == 302
    assert AuditEvent.objects.filter(action="auth.access_reduced", changes__reason="lost a role").exists()


def test_gaining_a_role_ends_nothing(login, developer):
    client = login(developer)
    developer.groups.add(Group.objects.get(name="Approvers"))
    assert client.get(reverse("home")).status_code == 200


def test_metrics_need_a_token_or_an_allowed_address_in_production(client, settings):
    settings.METRICS_OPEN = False
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_metrics_refuse_everyone_when_nothing_is_configured(client, settings):
    settings.METRICS_OPEN = False
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.content.decode()


def test_the_api_schema_and_docs_need_sign_in_when_configured(client, developer, settings):
    settings.API_DOCS_REQUIRE_SIGN_IN = True
    assert client.get("/api/schema/").status_code == 401
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs.url.startswith(reverse("login"))
    client.force_login(developer)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_production_defaults_protect_metrics_and_the_api_docs():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "PORTAL_ENV": "production",
        "SECRET_KEY": "x" * 20 + "production-test-key-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "bridge.example.com",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    code = "from django.conf import settings as s; print(s.METRICS_OPEN, s.API_DOCS_REQUIRE_SIGN_IN)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "True"]
