"""What a forged, misdirected, stale or replayed answer from (or instead of) the provider gets: no sign-in,
a message, and the reason in the audit log. Authlib does the checks; these tests prove it is wired to."""

import socket

import pytest
from django.urls import reverse

from portal.models import AuditEvent
from tests.accounts.conftest import id_token_claims, nonce_of
from tests.oidc_provider import new_key

pytestmark = pytest.mark.django_db


def _refused(browser, response, reason: str) -> str:
    assert response.status_code == 302 and response.url == reverse("login")
    assert browser.client.get(reverse("home")).status_code == 302  # not signed in
    refusal = AuditEvent.objects.get(action="auth.login_refused")
    assert refusal.changes["reason"] == reason
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    return browser.client.get(reverse("login")).content.decode()


def _with_forged_token(browser, provider, **overrides):
    """Start a sign-in, and have the token response carry an ID token made by the test."""
    authorization_url = browser.start()
    callback = browser.sign_in_at_provider(authorization_url)
    key = overrides.pop("key", None)
    provider.answer_next_token_request_with(
        provider.sign(id_token_claims(provider, nonce=nonce_of(authorization_url), **overrides), key=key)
    )
    return browser.finish(callback)


def test_a_token_signed_with_another_key_is_refused(oidc_settings, provider, browser):
    impostor = new_key(provider.key.kid)  # the provider's key id, someone else's key
    page = _refused(browser, _with_forged_token(browser, provider, key=impostor), "bad_signature")
    assert "could not be verified" in page


def test_a_token_signed_with_a_key_the_provider_never_published_is_refused(oidc_settings, provider, browser):
    _refused(browser, _with_forged_token(browser, provider, key=new_key("rotated-in-by-nobody")), "unknown_signing_key")


def test_a_token_for_another_client_is_refused(oidc_settings, provider, browser):
    _refused(browser, _with_forged_token(browser, provider, aud="another-app"), "invalid_claim:aud")


def test_a_token_for_another_audience_is_refused_even_when_it_names_us_as_authorized_party(
    oidc_settings, provider, browser
):
    forged = _with_forged_token(browser, provider, aud="another-app", azp="bridge")
    _refused(browser, forged, "invalid_claim:aud")


def test_a_token_from_another_issuer_is_refused(oidc_settings, provider, browser):
    _refused(browser, _with_forged_token(browser, provider, iss="https://evil.example"), "invalid_claim:iss")


def test_an_expired_token_is_refused(oidc_settings, provider, browser):
    import time

    long_ago = int(time.time()) - 3600
    _refused(browser, _with_forged_token(browser, provider, iat=long_ago, exp=long_ago + 300), "expired_token:exp")


def test_a_replayed_token_with_an_old_nonce_is_refused(oidc_settings, provider, browser):
    assert browser.sign_in().status_code == 302
    captured = provider.last_id_token()  # signed by the provider, for this client, not expired
    browser.client.post(reverse("logout"))
    AuditEvent.objects.all().delete()
    authorization_url = browser.start()
    callback = browser.sign_in_at_provider(authorization_url)
    provider.answer_next_token_request_with(captured)
    _refused(browser, browser.finish(callback), "invalid_claim:nonce")


def test_a_callback_with_someone_elses_state_is_refused(oidc_settings, provider, browser, client):
    from django.test import Client

    from tests.accounts.conftest import ProviderBrowser

    victim = ProviderBrowser(Client())
    callback = victim.sign_in_at_provider(victim.start())  # the attacker's own sign-in...
    response = browser.finish(callback)  # ...completed in the victim's browser (login CSRF)
    _refused(browser, response, "state_mismatch")


def test_a_callback_replayed_after_use_is_refused(oidc_settings, provider, browser):
    callback = browser.sign_in_at_provider(browser.start())
    assert browser.finish(callback).status_code == 302
    browser.client.post(reverse("logout"))
    AuditEvent.objects.all().delete()
    _refused(browser, browser.finish(callback), "state_mismatch")


def test_an_unreachable_provider_gets_a_clear_message_and_the_password_form_stays(oidc_settings, browser):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    oidc_settings.OIDC_ISSUER_URL = f"http://127.0.0.1:{closed_port}"
    response = browser.client.get("/accounts/oidc/start/")
    page = _refused(browser, response, "provider_unreachable")
    assert "cannot be reached right now" in page
    assert 'name="password"' in page


def test_without_a_provider_the_button_is_absent_and_its_address_says_so(settings, client):
    settings.OIDC_ISSUER_URL = ""
    assert "oidc-sign-in" not in client.get(reverse("login")).content.decode()
    response = client.get("/accounts/oidc/start/")
    assert response.status_code == 302
    assert "not set up" in client.get(reverse("login")).content.decode()
