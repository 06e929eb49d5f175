"""Adversarial review: a stolen API token must not be a way to keep access after its revocation."""

import pytest

from portal import services
from portal.models import PersonalToken

pytestmark = pytest.mark.django_db


def _bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_stolen_token_cannot_mint_a_token_that_survives_its_revocation(client, developer):
    stolen = services.token_create(user=developer, name="dashboard", scopes=["read", "write"])
    response = client.post("/api/tokens/", {"name": "backdoor"}, content_type="application/json", **_bearer(stolen.key))
    assert response.status_code == 403
    assert "signed-in session" in response.json()["error"]["message"]
    assert PersonalToken.objects.filter(user=developer).count() == 1


def test_a_token_cannot_list_or_revoke_tokens(client, developer):
    token = services.token_create(user=developer, name="ci", scopes=["read", "write"])
    assert client.get("/api/tokens/", **_bearer(token.key)).status_code == 403
    assert client.get(f"/api/tokens/{token.token.pk}/", **_bearer(token.key)).status_code == 403
    assert client.post(f"/api/tokens/{token.token.pk}/revoke/", **_bearer(token.key)).status_code == 403


def test_a_signed_in_session_still_creates_and_lists_tokens(login, developer):
    client = login(developer)
    response = client.post("/api/tokens/", {"name": "mine"}, content_type="application/json")
    assert response.status_code == 201
    assert [row["name"] for row in client.get("/api/tokens/").json()["results"]] == ["mine"]
