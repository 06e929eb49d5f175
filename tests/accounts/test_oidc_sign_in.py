"""Signing in through a real, certified OpenID Provider (panva's oidc-provider, run by Node.js)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

PAYMENTS_GROUP = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
  annotations: {bridge.io/idp-group: eng-payments}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: service, lifecycle: production, owner: payments}
"""


@pytest.fixture
def payments_team():
    from catalog import services

    services.catalog_import_text(text=PAYMENTS_GROUP, name="teams")


def _roles(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _teams(user) -> set[str]:
    from catalog.selectors import teams_of

    return set(teams_of(user).values_list("ref_key", flat=True))


def test_the_first_sign_in_creates_the_account_with_its_profile_roles_and_team(oidc_settings, browser, payments_team):
    response = browser.sign_in()
    assert response.status_code == 302 and response.url == reverse("home")
    alice = get_user_model().objects.get(username="alice")
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@example.com", "Alice", "Liddell")
    assert not alice.has_usable_password()
    assert _roles(alice) == {"Developers", "Approvers"}
    assert _teams(alice) == {"group:default/payments"}
    home = browser.client.get(reverse("home")).content.decode()
    assert "checkout" in home  # the team's service, on the home page
    login = AuditEvent.objects.get(action="auth.login")
    assert login.changes == {"method": "oidc"} and login.actor == alice
    assert AuditEvent.objects.filter(action="auth.role.add", changes__source="identity provider").count() == 2
    assert AuditEvent.objects.filter(action="auth.team.add", changes__team="group:default/payments").exists()


def test_a_catalog_group_named_like_the_providers_group_is_the_persons_team_without_an_annotation(
    oidc_settings, browser
):
    from catalog import services

    services.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: eng-payments}\nspec: {type: team}\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: eng-search}\nspec: {type: team}\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: ledger}\n"
        "spec: {type: service, lifecycle: production, owner: eng-payments}\n",
        name="teams",
    )
    assert browser.sign_in().status_code == 302
    alice = get_user_model().objects.get(username="alice")
    assert _teams(alice) == {"group:default/eng-payments"}  # not eng-search, a group she is not in
    assert "ledger" in browser.client.get(reverse("home")).content.decode()
    assert AuditEvent.objects.filter(action="auth.team.add", changes__team="group:default/eng-payments").exists()


def test_removed_from_eng_payments_at_the_provider_alice_loses_team_approver_tokens_and_sessions(
    oidc_settings, provider, browser, payments_team, client
):
    from django.test import Client

    assert browser.sign_in().status_code == 302
    alice = get_user_model().objects.get(username="alice")
    other_browser = Client()
    other_browser.force_login(alice)
    token = browser.client.post(
        "/api/tokens/", {"name": "dashboard", "scopes": ["read"]}, content_type="application/json"
    ).json()["key"]
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    provider.set_accounts({"alice": {**provider.accounts["alice"], "groups": ["engineering"]}})
    browser.client.post(reverse("logout"))
    assert browser.sign_in().status_code == 302

    assert _roles(alice) == {"Developers"}
    assert _teams(alice) == set()
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert other_browser.get(reverse("home")).status_code == 302  # that session ended
    assert browser.client.get(reverse("home")).status_code == 200  # the new sign-in's did not
    removed = AuditEvent.objects.get(action="auth.role.remove")
    assert removed.changes["role"] == "Approvers" and removed.changes["source"] == "identity provider"
    assert AuditEvent.objects.filter(action="auth.team.remove", changes__team="group:default/payments").exists()
    assert AuditEvent.objects.filter(action="token.revoke", changes__reason="lost a role").exists()


def test_email_and_name_follow_the_provider_at_every_sign_in(oidc_settings, provider, browser):
    browser.sign_in()
    provider.set_accounts(
        {"alice": {**provider.accounts["alice"], "email": "alice.l@example.com", "given_name": "Alicia"}}
    )
    browser.client.post(reverse("logout"))
    browser.sign_in()
    alice = get_user_model().objects.get(username="alice")
    assert (alice.email, alice.first_name) == ("alice.l@example.com", "Alicia")


def test_the_account_is_linked_to_the_catalog_user_with_the_same_email(oidc_settings, browser):
    from catalog import services
    from catalog.selectors import catalog_user_of

    services.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: alice}\n"
        "spec: {profile: {email: alice@example.com}, memberOf: []}\n",
        name="people",
    )
    browser.sign_in()
    assert catalog_user_of(get_user_model().objects.get(username="alice")).name == "alice"


def test_platform_admin_is_never_taken_or_given_by_the_provider_unless_configured(oidc_settings, provider, browser):
    from django.contrib.auth.models import Group

    from portal.config import sign_in_problems

    browser.sign_in()
    alice = get_user_model().objects.get(username="alice")
    alice.groups.add(Group.objects.get(name="Platform Admins"))  # given in Bridge
    browser.client.post(reverse("logout"))
    browser.sign_in()
    assert "Platform Admins" in _roles(alice)
    problems = sign_in_problems(
        issuer="https://sso.example.com",
        client_id="bridge",
        password_login=True,
        break_glass="",
        role_mapping={"Platform Admins": ["everyone"]},
        manage_platform_admins=False,
    )
    assert any("OIDC_MANAGE_PLATFORM_ADMINS" in problem for problem in problems)


def test_signing_out_ends_the_provider_session_too(oidc_settings, provider, browser):
    browser.sign_in()
    response = browser.client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url.startswith(provider.issuer + "/session/end")
    assert "id_token_hint=" in response.url and "post_logout_redirect_uri=" in response.url
    assert browser.client.get(reverse("home")).status_code == 302


def test_the_sign_in_page_shows_the_providers_button_first(oidc_settings, client):
    oidc_settings.OIDC_BUTTON_LABEL = "Sign in with Example SSO"
    body = client.get(reverse("login")).content.decode()
    assert body.index("Sign in with Example SSO") < body.index('name="password"')
