"""Journey: sign in through the identity provider's own login page (a certified OpenID Provider) and
land on the home page with the team the provider's groups give."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, VIEWPORT
from tests.oidc_provider import OidcProvider, unavailable_reason
from tests.worker import PortalServer
from tests.worker import test_database_url as database_url_of_tests

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

SECRET = "journey-client-secret-0123456789abcdef"
ALICE = {
    "email": "alice@example.com",
    "email_verified": True,
    "given_name": "Alice",
    "family_name": "Liddell",
    "preferred_username": "alice",
    "groups": ["engineering", "eng-payments"],
}
TEAM = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
  title: Payments team
  annotations: {bridge.io/idp-group: eng-payments}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout, title: Checkout service}
spec: {type: service, lifecycle: production, owner: payments}
"""


@pytest.fixture(scope="module")
def oidc_portal(django_db_setup, django_db_blocker):
    """A gunicorn portal configured with a provider that knows its callback address."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PortalServer(Path(settings.VAR_DIR) / "test-web-oidc.log", "--workers", "1")
    portal = server.url
    provider = OidcProvider(
        clients=[
            {
                "client_id": "bridge-journey",
                "client_secret": SECRET,
                "redirect_uris": [f"{portal}/accounts/oidc/callback/"],
                "post_logout_redirect_uris": [f"{portal}/accounts/login/"],
            }
        ],
        accounts={"alice": ALICE},
    ).start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_tests(),
        "BROKER_DATA_DIR": str(settings.BROKER_DATA_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OIDC_ISSUER_URL": provider.issuer,
        "OIDC_CLIENT_ID": "bridge-journey",
        "OIDC_CLIENT_SECRET": SECRET,
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_BUTTON_LABEL": "Sign in with Example SSO",
        "OIDC_ROLE_MAPPING": '{"Developers": ["engineering"], "Approvers": ["eng-payments"]}',
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    try:
        server.start(env)
    except Exception:
        provider.stop()
        raise
    try:
        yield portal, provider
    finally:
        server.stop()
        provider.stop()


def test_a_person_signs_in_at_the_provider_and_lands_home_with_their_team(browser, oidc_portal):
    from catalog import services

    services.catalog_import_text(text=TEAM, name="teams")
    portal, provider = oidc_portal
    for width in (1280, 390):
        context = browser.new_context(viewport={**VIEWPORT, "width": width})
        context.set_default_timeout(15000)
        page = context.new_page()
        answer = page.goto(f"{portal}/accounts/login/")
        assert answer.status == 200, answer.status
        button = page.get_by_role("link", name="Sign in with Example SSO")
        expect(button).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"oidc-sign-in-page-{width}.png"), full_page=True)
        button.click()
        page.wait_for_url(f"{provider.issuer}/**")  # the provider's own login page
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", "any")
        page.click("button[type=submit]")
        page.wait_for_url(f"{portal}/")
        assert page.get_by_role("link", name="Checkout service").is_visible()  # the team's service
        page.goto(f"{portal}/accounts/profile/")
        assert page.get_by_role("link", name="Payments team").is_visible()
        assert page.get_by_text("Approvers").is_visible()
        page.screenshot(path=str(ARTIFACTS / f"oidc-profile-{width}.png"), full_page=True)
        context.close()
