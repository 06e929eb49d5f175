"""The REST API: runs, deployments, incidents with filters; permissions."""

import pytest

from catalog.models import Entity
from pipelines.models import Incident
from portal import services as portal_services
from tests.pipelines import payloads

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(send_github, send_gitlab):
    Entity.objects.create(kind="Component", name="payments", annotations={"github.com/project-slug": "acme/payments"})
    send_github("workflow_run", payloads.workflow_run(run_id=1, conclusion="failure"))
    send_github("workflow_run", payloads.workflow_run(run_id=2, head_branch="feature/x"))
    send_github("workflow_job", payloads.workflow_job(run_id=1, conclusion="failure"))
    send_gitlab("Pipeline Hook", payloads.gitlab_pipeline())
    send_github("deployment_status", payloads.deployment_status())
    send_gitlab("Deployment Hook", payloads.gitlab_deployment(status="failed"))


def test_the_api_needs_authentication(client):
    assert client.get("/api/pipelines/runs/").status_code == 401
    assert client.get("/api/pipelines/metrics/?entity=component:default/x").status_code == 401


def test_runs_can_be_filtered_by_entity_status_and_branch(client, developer, data):
    token = portal_services.token_create(user=developer, name="ci").key
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    everything = client.get("/api/pipelines/runs/", **auth).json()
    assert everything["count"] == 3
    by_entity = client.get("/api/pipelines/runs/?entity=component:default/payments", **auth).json()
    assert {r["provider_id"] for r in by_entity["results"]} == {"1", "2"}
    assert by_entity["results"][0]["entity"] == "component:default/payments"
    failed = client.get("/api/pipelines/runs/?status=failed", **auth).json()
    assert [r["provider_id"] for r in failed["results"]] == ["1"]
    branch = client.get("/api/pipelines/runs/?branch=feature/x", **auth).json()
    assert [r["provider_id"] for r in branch["results"]] == ["2"]
    repo = client.get("/api/pipelines/runs/?repository=shop/checkout", **auth).json()
    assert repo["count"] == 1


def test_a_run_detail_has_its_jobs_and_steps(login, developer, data):
    client = login(developer)
    run_id = client.get("/api/pipelines/runs/?status=failed").json()["results"][0]["id"]
    detail = client.get(f"/api/pipelines/runs/{run_id}/").json()
    assert detail["jobs"][0]["name"] == "test (3.12)"
    assert detail["jobs"][0]["steps"][1]["name"] == "Run pytest"


def test_a_filter_naming_an_unknown_entity_is_a_400(login, developer, data):
    response = login(developer).get("/api/pipelines/runs/?entity=component:default/nope")
    assert response.status_code == 400


def test_deployments_can_be_filtered_by_environment_and_status(login, developer, data):
    client = login(developer)
    assert client.get("/api/pipelines/deployments/?environment=Production").json()["count"] == 2
    failed = client.get("/api/pipelines/deployments/?status=failed").json()
    assert [d["repository"] for d in failed["results"]] == ["shop/checkout"]


def test_only_platform_admins_record_incidents_through_the_api(login, developer, platform_admin, data):
    body = {
        "incident_id": "INC-1",
        "title": "Payments down",
        "entity": "component:default/payments",
        "deployment_id": "145988746",
        "started_at": "2026-11-20T11:10:00Z",
        "resolved_at": "2026-11-20T11:40:00Z",
    }
    assert login(developer).post("/api/pipelines/incidents/", body, content_type="application/json").status_code == 403
    response = login(platform_admin).post("/api/pipelines/incidents/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert incident.entity.name == "payments" and incident.deployment.provider_id == "145988746"
    again = login(platform_admin).post("/api/pipelines/incidents/", body, content_type="application/json")
    assert again.status_code == 201 and Incident.objects.count() == 1


def test_an_incident_resolved_before_it_started_is_a_400(login, platform_admin):
    body = {
        "incident_id": "INC-2",
        "title": "x",
        "started_at": "2026-11-20T11:10:00Z",
        "resolved_at": "2026-11-20T10:00:00Z",
    }
    response = login(platform_admin).post("/api/pipelines/incidents/", body, content_type="application/json")
    assert response.status_code == 400


def test_incidents_arrive_through_the_generic_receiver_too(send_generic, data):
    response = send_generic(
        {
            "type": "incident",
            "incident_id": "PD-42",
            "title": "Checkout errors",
            "repository": "shop/checkout",
            "deployment_id": "15",
            "started_at": "2026-11-20T10:30:00Z",
        }
    )
    assert response.status_code == 202
    incident = Incident.objects.get()
    assert incident.deployment.repository.slug == "shop/checkout"
    assert incident.resolved_at is None


def test_a_generic_deployment_event(send_generic):
    response = send_generic(
        {
            "type": "deployment",
            "repository": "acme/batch",
            "deployment_id": "rel-9",
            "environment": "prod",
            "status": "success",
            "commit": "abc123",
            "commit_at": "2026-11-20T08:00:00Z",
            "created_at": "2026-11-20T09:00:00Z",
            "finished_at": "2026-11-20T09:05:00Z",
        },
        HTTP_IDEMPOTENCY_KEY="rel-9-success",
    )
    assert response.status_code == 202
    assert response.json()["delivery"] == "rel-9-success"
    from pipelines.models import Deployment

    deployment = Deployment.objects.get()
    assert deployment.is_production and deployment.commit_at.hour == 8


def test_api_lists_keep_their_query_count_flat(login, developer, data, send_github, django_assert_max_num_queries):
    for n in range(5):
        send_github("workflow_run", payloads.workflow_run(run_id=500 + n))
    client = login(developer)
    with django_assert_max_num_queries(8):
        assert client.get("/api/pipelines/runs/").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/api/pipelines/deployments/").status_code == 200


def test_date_filters_with_any_iso_offset_answer_instead_of_failing(client, developer):
    client.force_login(developer)
    for path in ("/api/pipelines/deployments/", "/api/pipelines/runs/"):
        response = client.get(path, {"since": "9959-09-07T14:08:24-19:49", "until": "0001-01-01T00:00:00+05:00"})
        assert response.status_code == 200, path


def test_the_metrics_until_accepts_any_iso_offset_and_refuses_nonsense(client, developer):
    from catalog.models import Entity

    Entity.objects.create(kind="Component", name="svc", ref_key="component:default/svc")
    client.force_login(developer)
    ok = client.get(
        "/api/pipelines/metrics/", {"entity": "component:default/svc", "until": "2026-01-01T00:00:00+16:22"}
    )
    assert ok.status_code == 200
    bad = client.get("/api/pipelines/metrics/", {"entity": "component:default/svc", "until": "soon"})
    assert bad.status_code == 400
