"""A real OpenID Provider (tests/oidc_provider.py) and a way through its sign-in page without a browser."""

from __future__ import annotations

import os
import re
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.oidc_provider import OidcProvider, unavailable_reason

CLIENT_ID = "bridge"
CLIENT_SECRET = "bridge-test-client-secret-0123456789abcdef"
CALLBACK = "http://testserver/accounts/oidc/callback/"

ALICE = {
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice Liddell",
    "given_name": "Alice",
    "family_name": "Liddell",
    "preferred_username": "alice",
    "groups": ["engineering", "eng-payments"],
}


@pytest.fixture(scope="module")
def provider():
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):  # .ci/run installs the provider: its absence there is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    with OidcProvider(
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [CALLBACK],
                "post_logout_redirect_uris": ["http://testserver/accounts/login/"],
            }
        ],
        accounts={"alice": ALICE},
    ) as running:
        yield running


@pytest.fixture
def oidc_settings(settings, provider):
    provider.set_accounts({"alice": ALICE})
    settings.OIDC_ISSUER_URL = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_SCOPES = ["openid", "email", "profile", "groups"]
    settings.OIDC_ROLE_MAPPING = {"Developers": ["engineering"], "Approvers": ["eng-payments"]}
    return settings


class ProviderBrowser:
    """Goes through the provider's own sign-in page with plain HTTP, as a person's browser would."""

    def __init__(self, client):
        self.client = client
        self.http = requests.Session()

    def start(self) -> str:
        """Click the sign-in button; returns the provider's authorization URL."""
        response = self.client.get("/accounts/oidc/start/")
        assert response.status_code == 302, response.content[:300]
        return response.url

    def _follow(self, response):
        """Follow the provider's redirects; stop at the callback (returned as a URL) or at a page."""
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(CALLBACK):
                return location
            response = self.http.get(location, allow_redirects=False, timeout=10)
        return response

    def sign_in_at_provider(self, authorization_url: str, login: str = "alice") -> str:
        """Type the login at the provider (unless it remembers the person); returns the callback URL."""
        page = self._follow(self.http.get(authorization_url, allow_redirects=False, timeout=10))
        if isinstance(page, str):
            return page
        action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        assert action, page.text[:500]
        answer = self.http.post(
            urljoin(page.url, action.group(1)),
            data={"prompt": "login", "login": login, "password": "any"},
            allow_redirects=False,
            timeout=10,
        )
        callback = self._follow(answer)
        assert isinstance(callback, str), callback.text[:500]
        return callback

    def finish(self, callback_url: str):
        parts = urlsplit(callback_url)
        return self.client.get(parts.path + "?" + parts.query)

    def sign_in(self, login: str = "alice"):
        return self.finish(self.sign_in_at_provider(self.start(), login))


@pytest.fixture
def browser(client):
    return ProviderBrowser(client)


def nonce_of(authorization_url: str) -> str:
    return parse_qs(urlsplit(authorization_url).query)["nonce"][0]


def id_token_claims(provider, *, nonce: str, **overrides) -> dict:
    now = int(time.time())
    claims = {"iss": provider.issuer, "sub": "alice", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}
