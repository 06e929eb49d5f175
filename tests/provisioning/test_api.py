import pytest
from django.urls import reverse

from provisioning import services
from provisioning.models import EnvironmentRequest, RequestState
from tests.provisioning.conftest import submit

pytestmark = pytest.mark.django_db

API = "/api/provisioning"


def _planned(user, template, name="sbx"):
    request = submit(user, template, name=name, size="small", members=2)
    run = request.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.log_append(run_id=run.pk, first_number=1, lines=[f"line {i}" for i in range(1, 6)])
    services.run_plan_succeeded(
        run_id=run.pk, summary={"add": 0, "change": 0, "destroy": 0, "resources": [], "outputs": []}
    )
    request.refresh_from_db()
    return request


def test_templates_are_listed_with_their_json_schema(login, developer, shipped_templates):
    body = login(developer).get(f"{API}/templates/").json()
    names = [t["name"] for t in body["results"]]
    assert names == ["preview", "staging-stack", "team-sandbox"]
    detail = login(developer).get(f"{API}/templates/staging-stack/").json()
    assert detail["parameters_schema"]["properties"]["replicas"]["maximum"] == 10
    assert detail["approval"] == {"policy": "distinct", "group": "Approvers", "count": 2}
    assert detail["ttl"] == {"default_hours": 72, "max_hours": 336}


def test_creating_a_request_through_the_api(login, developer, shipped_templates, service_entity, enqueued):
    response = login(developer).post(
        f"{API}/requests/",
        {
            "template": "preview",
            "name": "api-pr",
            "entity": service_entity.pk,
            "justification": "CI preview",
            "parameters": {"app": "checkout"},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "submitted" and body["template_version"] == 1
    assert body["entity"] == "component:default/checkout"
    assert body["parameters"] == {"app": "checkout", "branch": "main", "replicas": 1, "debug": False}
    assert [r["kind"] for r in body["runs"]] == ["plan"]


def test_validation_errors_come_back_per_field_as_json(login, developer, shipped_templates, enqueued):
    response = login(developer).post(
        f"{API}/requests/",
        {
            "template": "preview",
            "name": "Ünïcode name " * 20,
            "justification": "",
            "parameters": {"app": "x" * 5000, "replicas": "three"},
            "ttl_hours": 1000,
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    details = error["details"]
    assert set(details) >= {"name", "justification", "ttl_hours", "app", "replicas"}
    assert not EnvironmentRequest.objects.exists()


def test_an_unknown_template_is_a_clear_error(login, developer, db):
    response = login(developer).post(
        f"{API}/requests/", {"template": "nope", "name": "a", "justification": "x"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["template"] == ["No published template has this name."]


def test_the_list_shows_only_what_the_user_may_see_and_filters(
    login, developer, stranger, approver, shipped_templates, enqueued
):
    submit(developer, shipped_templates["preview"], name="mine-1", app="checkout")
    submit(stranger, shipped_templates["preview"], name="theirs-1", app="checkout")
    names = [r["name"] for r in login(developer).get(f"{API}/requests/").json()["results"]]
    assert names == ["mine-1"]
    all_names = {r["name"] for r in login(approver).get(f"{API}/requests/").json()["results"]}
    assert all_names == {"mine-1", "theirs-1"}
    assert login(approver).get(f"{API}/requests/", {"state": "active"}).json()["results"] == []


def test_a_stranger_gets_404_for_someone_elses_request_and_its_log(
    login, developer, stranger, shipped_templates, enqueued
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    client = login(stranger)
    assert client.get(f"{API}/requests/{env.pk}/").status_code == 404
    assert client.get(f"{API}/runs/{env.runs.get().pk}/log/").status_code == 404
    assert client.post(f"{API}/requests/{env.pk}/cancel/").status_code == 404


def test_approve_and_reject_through_the_api_with_the_same_rules(
    login, developer, approver, shipped_templates, enqueued
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    own = login(developer).post(f"{API}/requests/{env.pk}/approve/", {}, content_type="application/json")
    assert own.status_code == 403
    assert own.json()["error"]["message"] == "You cannot approve your own request."
    rejected = login(approver).post(
        f"{API}/requests/{env.pk}/reject/", {"comment": ""}, content_type="application/json"
    )
    assert rejected.status_code == 400 and "comment" in rejected.json()["error"]["details"]
    ok = login(approver).post(f"{API}/requests/{env.pk}/approve/", {"comment": "fine"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    again = login(approver).post(f"{API}/requests/{env.pk}/approve/", {}, content_type="application/json")
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "This request is already approved."


def test_run_logs_are_paged_after_a_line_number(login, developer, shipped_templates, enqueued):
    env = _planned(developer, shipped_templates["team-sandbox"])
    run = env.runs.get()
    body = login(developer).get(f"{API}/runs/{run.pk}/log/", {"after": 3}).json()
    assert [line["number"] for line in body["lines"]] == [4, 5]
    assert body["next_after"] == 5 and body["finished"] is True
    empty = login(developer).get(f"{API}/runs/{run.pk}/log/", {"after": 5}).json()
    assert empty["lines"] == [] and empty["next_after"] == 5
    assert login(developer).get(f"{API}/runs/{run.pk}/log/", {"after": "x"}).status_code == 400


def test_cancel_and_retry_through_the_api(login, developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pv", app="checkout")
    client = login(developer)
    body = client.post(f"{API}/requests/{env.pk}/cancel/").json()
    assert body["state"] == "canceled" and body["runs"][0]["status"] == "canceled"
    again = client.post(f"{API}/requests/{env.pk}/retry/")
    assert again.status_code == 400
    assert "only a failed request can be retried" in again.json()["error"]["message"]
    env.refresh_from_db()
    assert env.state == RequestState.CANCELED


@pytest.mark.parametrize("pk", ["²", "99999999999999999999"])
def test_an_odd_request_id_is_a_404_not_a_server_error(login, developer, pk):
    assert login(developer).get(f"{API}/requests/{pk}/").status_code == 404


@pytest.mark.parametrize("after", ["99999999999999999999", "²", "-1"])
def test_an_odd_log_position_is_a_clear_400(login, developer, shipped_templates, after):
    request = _planned(developer, shipped_templates["team-sandbox"])
    response = login(developer).get(f"{API}/runs/{request.runs.get().pk}/log/", {"after": after})
    assert response.status_code == 400 and "line number" in response.content.decode()
    run = request.runs.get()
    page = login(developer).get(
        reverse("provisioning:request-log", args=[request.pk]), {"run": run.pk, "after": after}, HTTP_HX_REQUEST="true"
    )
    assert page.status_code == 200
