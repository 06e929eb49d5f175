import pytest
from django.urls import reverse

from portal import services

pytestmark = pytest.mark.django_db


def test_anonymous_api_calls_get_a_json_401_with_the_error_shape(client):
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 401
    assert error["code"] == "not_authenticated"
    assert "credentials" in error["message"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_personal_token_authenticates_api_calls(client, developer):
    new = services.token_create(user=developer, name="script")
    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {new.key}")
    assert response.status_code == 200
    assert response.json()["username"] == "dev"
    assert response.json()["roles"] == ["Developers"]


def test_a_revoked_token_no_longer_works(client, developer):
    new = services.token_create(user=developer, name="script")
    services.token_revoke(user=developer, token_id=new.token.pk)
    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {new.key}")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, expired or revoked token."


def test_a_made_up_token_is_refused(client, developer):
    response = client.get("/api/me/", HTTP_AUTHORIZATION="Bearer brg_notarealtoken")
    assert response.status_code == 401


def test_tokens_are_stored_only_as_a_hash(developer):
    new = services.token_create(user=developer, name="script")
    new.token.refresh_from_db()
    assert new.key not in (new.token.key_hash, new.token.prefix)
    assert new.key.startswith(new.token.prefix)


def test_a_token_is_shown_once_in_the_ui_and_revoked_from_the_profile(login, developer):
    client = login(developer)
    response = client.post(reverse("token-create"), {"name": "CI import"})
    key = response.context["key"]
    assert key in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    profile = client.get(reverse("profile")).content.decode()
    assert "CI import" in profile and key not in profile

    token = developer.api_tokens.get()
    client.post(reverse("token-revoke", args=[token.pk]))
    client.logout()
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(login, developer, stranger):
    theirs = services.token_create(user=developer, name="mine")
    client = login(stranger)
    client.post(reverse("token-revoke", args=[theirs.token.pk]))
    theirs.token.refresh_from_db()
    assert theirs.token.revoked_at is None
    assert client.post(f"/api/tokens/{theirs.token.pk}/revoke/").status_code == 404


def test_tokens_can_be_created_and_listed_through_the_api_from_a_session(login, developer):
    services.token_create(user=developer, name="bootstrap")
    client = login(developer)
    created = client.post("/api/tokens/", {"name": "second"}, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["key"].startswith("brg_")
    listed = client.get("/api/tokens/").json()
    assert listed["count"] == 2
    assert all("key" not in row for row in listed["results"])


def test_validation_errors_use_the_same_json_shape(login, developer):
    response = login(developer).post("/api/tokens/", {}, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"]["name"] == ["This field is required."]
    assert error["message"].startswith("name:")


def test_the_openapi_schema_and_docs_are_served_from_local_files(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn" not in docs.lower()


def test_an_unknown_api_address_answers_json_not_an_html_page(client, developer):
    client.force_login(developer)
    response = client.get("/api/tokens/not.a.number/")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}


def test_a_bad_page_size_is_a_clear_400(client, developer):
    client.force_login(developer)
    response = client.get("/api/tokens/?page_size=lots")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["page_size"] == ["Must be a whole number from 1 to 500."]
