"""The webhook receivers: verification, bad input, storage of raw deliveries."""

import json

import pytest
from django.test import override_settings

from pipelines import secrets
from pipelines.models import Delivery, DeliveryStatus, Run
from tests.pipelines import payloads

pytestmark = pytest.mark.django_db


def test_githubs_documented_signature_test_vector_verifies():
    secret = "It's a Secret to Everybody"
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert secrets.github_signature(secret, body) == expected
    assert secrets.verify_github_signature(secret=secret, body=body, header=expected)
    assert not secrets.verify_github_signature(secret=secret, body=b"Hello, World?", header=expected)
    assert not secrets.verify_github_signature(secret="wrong", body=body, header=expected)


def test_the_secret_is_stored_encrypted_and_still_usable_for_hmac(github):
    stored = github.integration.secret_encrypted
    assert github.secret not in stored
    assert secrets.decrypt(stored) == github.secret


def test_a_signed_workflow_run_is_accepted_stored_raw_and_processed(send_github):
    response = send_github("workflow_run", payloads.workflow_run(), delivery="d-1")
    assert response.status_code == 202
    assert response.json() == {"delivery": "d-1", "status": "pending", "duplicate": False}
    delivery = Delivery.objects.get(delivery_id="d-1")
    assert json.loads(delivery.body)["workflow_run"]["id"] == 30433642
    assert delivery.headers["X-GitHub-Event"] == "workflow_run"
    assert "X-Hub-Signature-256" not in delivery.headers
    assert delivery.status == DeliveryStatus.PROCESSED
    run = Run.objects.get()
    assert (run.status, run.number, run.branch, run.duration_seconds) == ("success", 562, "main", 390)


def test_a_bad_signature_gets_401_and_nothing_is_stored(send_github):
    response = send_github("workflow_run", payloads.workflow_run(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The signature does not match this integration's secret."
    assert not Delivery.objects.exists()


def test_a_missing_signature_gets_401(client, github):
    response = client.post(
        github.integration.receiver_path(),
        data=json.dumps(payloads.ping()),
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="ping",
        HTTP_X_GITHUB_DELIVERY="x",
    )
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_a_wrong_gitlab_token_gets_401_and_nothing_is_stored(send_gitlab):
    response = send_gitlab("Pipeline Hook", payloads.gitlab_pipeline(), token="guess")
    assert response.status_code == 401
    assert not Delivery.objects.exists()


def test_a_wrong_bearer_token_gets_401(send_generic):
    response = send_generic({"type": "run"}, token="guess")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert not Delivery.objects.exists()


def test_an_unknown_receiver_url_is_a_404(client, github):
    path = github.integration.receiver_path().replace("github", "gitlab")
    assert client.post(path, data="{}", content_type="application/json").status_code == 404


def test_an_unsupported_github_event_is_accepted_and_recorded_as_ignored(send_github):
    response = send_github("issues", {"action": "opened", "repository": payloads.REPO}, delivery="d-2")
    assert response.status_code == 202
    delivery = Delivery.objects.get(delivery_id="d-2")
    assert delivery.status == DeliveryStatus.IGNORED
    assert "issues" in delivery.error


def test_a_ping_is_processed_at_once(send_github):
    response = send_github("ping", payloads.ping(), process=False)
    assert response.status_code == 202
    assert response.json()["status"] == "processed"


def test_malformed_json_is_a_400_and_nothing_is_stored(client, github):
    body = b'{"action": "completed",'
    response = client.post(
        github.integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="workflow_run",
        HTTP_X_GITHUB_DELIVERY="d-3",
        HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(github.secret, body),
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The body is not valid JSON."
    assert not Delivery.objects.exists()


def test_a_form_encoded_delivery_is_refused_with_415(client, github):
    body = b"payload=%7B%7D"
    response = client.post(
        github.integration.receiver_path(),
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_GITHUB_EVENT="ping",
        HTTP_X_GITHUB_DELIVERY="d-4",
        HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(github.secret, body),
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_missing_event_or_delivery_headers_are_a_400(client, github):
    body = json.dumps(payloads.ping()).encode()
    signature = secrets.github_signature(github.secret, body)
    path = github.integration.receiver_path()
    no_event = client.post(
        path, data=body, content_type="application/json", HTTP_X_GITHUB_DELIVERY="a", HTTP_X_HUB_SIGNATURE_256=signature
    )
    no_delivery = client.post(
        path, data=body, content_type="application/json", HTTP_X_GITHUB_EVENT="ping", HTTP_X_HUB_SIGNATURE_256=signature
    )
    assert no_event.status_code == 400 and "X-GitHub-Event" in no_event.json()["error"]["message"]
    assert no_delivery.status_code == 400 and "X-GitHub-Delivery" in no_delivery.json()["error"]["message"]
    assert not Delivery.objects.exists()


@override_settings(PIPELINES_MAX_BODY_BYTES=1000)
def test_a_body_over_the_size_limit_is_a_413_and_nothing_is_stored(send_github):
    response = send_github("workflow_run", payloads.workflow_run())
    assert response.status_code == 413
    assert not Delivery.objects.exists()


def test_a_payload_missing_fields_is_a_400_that_names_the_field(send_github):
    payload = payloads.workflow_run()
    del payload["workflow_run"]["id"]
    response = send_github("workflow_run", payload)
    assert response.status_code == 400
    assert "workflow_run.id" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()
    assert not Run.objects.exists()


def test_a_generic_run_with_an_unknown_status_is_a_400(send_generic):
    response = send_generic(
        {
            "type": "run",
            "repository": "acme/batch",
            "pipeline": "nightly",
            "run_id": "1",
            "status": "great",
            "created_at": "2026-11-20T10:00:00Z",
        }  # fmt: skip
    )
    assert response.status_code == 400
    assert "status" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_receivers_need_no_csrf_token(send_github, client):
    client.handler.enforce_csrf_checks = True
    assert send_github("ping", payloads.ping()).status_code == 202


def test_the_webhooks_are_documented_in_the_openapi_schema(client, developer):
    client.force_login(developer)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for provider in ("github", "gitlab", "generic"):
        assert f"/api/pipelines/hooks/{provider}/{{public_id}}/" in paths
    assert "/api/pipelines/metrics/" in paths


def test_links_in_payloads_that_are_not_http_are_dropped(send_generic):
    response = send_generic(
        {
            "type": "run",
            "repository": "acme/batch",
            "pipeline": "nightly",
            "run_id": "1",
            "status": "success",
            "created_at": "2026-11-20T10:00:00Z",
            "url": "javascript:alert(1)",
        }  # fmt: skip
    )
    assert response.status_code == 202
    assert Run.objects.get().url == ""


def _incident(**fields):
    return {
        "type": "incident",
        "incident_id": "INC-42",
        "title": "Checkout errors",
        "started_at": "2026-11-20T10:00:00Z",
        **fields,
    }


def test_an_incident_resolved_before_it_started_is_a_400_at_the_generic_receiver(send_generic):
    response = send_generic(_incident(resolved_at="2026-11-20T09:00:00Z", repository="acme/batch"))
    assert response.status_code == 400
    assert "resolved before it started" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_an_incident_for_an_unknown_entity_is_a_400_at_the_generic_receiver(send_generic):
    response = send_generic(_incident(entity="component:default/nobody"))
    assert response.status_code == 400
    assert "component:default/nobody" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_a_valid_incident_at_the_generic_receiver_is_recorded(send_generic):
    from catalog.models import Entity
    from pipelines.models import Incident

    Entity.objects.create(kind="Component", name="batch", annotations={"github.com/project-slug": "acme/batch"})
    response = send_generic(_incident(entity="component:default/batch", resolved_at="2026-11-20T10:30:00Z"))
    assert response.status_code == 202
    incident = Incident.objects.get()
    assert (incident.external_id, incident.entity.name) == ("INC-42", "batch")
