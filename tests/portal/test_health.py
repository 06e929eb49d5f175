import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["broker"] == "ok"


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={})
def test_readyz_answers_503_naming_the_broker_when_it_is_down(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"].startswith("broker unreachable")
    assert body["checks"]["database"] == "ok"


@override_settings(TERRAFORM_BIN="/nonexistent/terraform")
def test_readyz_names_a_missing_terraform_binary(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "terraform" in response.json()["failing"]
    assert "TERRAFORM_BIN" in response.json()["checks"]["terraform"]


def test_metrics_are_in_prometheus_format(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE bridge_http_requests_total counter" in text
    assert 'bridge_http_requests_total{method="GET",status="200"}' in text
