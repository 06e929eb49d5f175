"""Lock-outs behind the ingress: per (username, real address), and a per-username delay that never
stops the person from their own browser."""

import pytest
from django.urls import reverse

from portal.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

INGRESS = "10.42.0.7"
ATTACKER = "203.0.113.66"
ALICE_HOME = "198.51.100.20"


def _sign_in(client, *, password, forwarded_for, username="alice"):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=INGRESS,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD, email="alice@example.com")


def test_behind_the_ingress_an_attackers_wrong_passwords_do_not_lock_alice_out(client, settings, alice):
    settings.TRUSTED_PROXY_COUNT = 1
    answers = [_sign_in(client, password="guess", forwarded_for=ATTACKER).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the fifth wrong password locks the attacker's pair
    assert _sign_in(client, password=PASSWORD, forwarded_for=ATTACKER).status_code == 429
    response = _sign_in(client, password=PASSWORD, forwarded_for=ALICE_HOME)
    assert response.status_code == 302 and response.url == reverse("home")


def test_the_audit_log_names_the_real_address_not_the_ingress(client, settings, alice):
    settings.TRUSTED_PROXY_COUNT = 1
    _sign_in(client, password="guess", forwarded_for=f"1.2.3.4, {ATTACKER}")  # the first entry is forged
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.ip_address == ATTACKER


def test_a_forwarded_header_is_ignored_without_a_trusted_proxy(client, settings, alice):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = []
    _sign_in(client, password="guess", forwarded_for=ATTACKER)
    assert AuditEvent.objects.get(action="auth.login_failed").ip_address == INGRESS


def test_trusted_proxies_can_be_named_by_network(client, settings, alice):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    _sign_in(client, password="guess", forwarded_for=f"9.9.9.9, {ATTACKER}, 10.42.3.3")
    assert AuditEvent.objects.get(action="auth.login_failed").ip_address == ATTACKER


def test_many_addresses_guessing_one_username_are_slowed_but_alices_own_browser_is_not(client, settings, alice):
    from django.test import Client

    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_USERNAME_DELAY_AFTER = 6
    own_browser = Client()
    assert _sign_in(own_browser, password=PASSWORD, forwarded_for=ALICE_HOME).status_code == 302
    own_browser.post(reverse("logout"))
    for n in range(6):  # a botnet: one wrong password from each of six addresses
        assert _sign_in(client, password="guess", forwarded_for=f"203.0.113.{n + 1}").status_code == 200
    delayed = _sign_in(Client(), password="guess", forwarded_for="203.0.113.99")
    assert delayed.status_code == 429
    assert int(delayed["Retry-After"]) > 0
    assert "Wait" in delayed.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_refused", changes__reason="username_delay").exists()
    response = _sign_in(own_browser, password=PASSWORD, forwarded_for="192.0.2.10")  # from a café, her own laptop
    assert response.status_code == 302 and response.url == reverse("home")


def test_the_audit_log_says_a_sign_in_was_refused_because_of_a_lock_out(client, settings, alice):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, password="guess-Tr0ub4dor", forwarded_for=ATTACKER)
    refused = AuditEvent.objects.get(action="auth.login_refused")
    assert refused.changes == {"reason": "locked_out", "username": "alice"}
    assert refused.ip_address == ATTACKER
    assert _sign_in(client, password=PASSWORD, forwarded_for=ATTACKER).status_code == 429
    locked = AuditEvent.objects.filter(action="auth.login_refused", changes__reason="locked_out")
    assert locked.count() == 2  # the lock itself, then the right password refused while locked
    assert not any("Tr0ub4dor" in str(event.changes) or PASSWORD in str(event.changes) for event in locked)
