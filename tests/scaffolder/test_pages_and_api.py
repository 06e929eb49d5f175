"""The Create pages and the API: list and filter, form, preview before anything leaves, approval, secrets."""

import pytest

from scaffolder import services
from scaffolder.models import RunState, ScaffolderRun

FORM = {
    "name": "payments-api",
    "owner": "group:default/payments",
    "destination": "local",
    "p_description": "Takes payments from the shop.",
    "p_system": "shop",
    "p_lifecycle": "experimental",
    "p_python_version": "3.12",
    "p_port": "8000",
}


@pytest.fixture
def enqueued(monkeypatch):
    ids = []
    monkeypatch.setattr(services, "_enqueue", lambda run_id: ids.append(run_id))
    return ids


@pytest.mark.django_db
def test_create_is_in_the_navigation_and_lists_templates_filtered_by_tag_and_owner(published, developer, login):
    client = login(developer)
    page = client.get("/").content.decode()
    assert 'href="/create/"' in page and ">Create<" in page
    listing = client.get("/create/").content.decode()
    assert "Python service" in listing and "group:default/platform" in listing
    assert "Python service" in client.get("/create/?tag=python").content.decode()
    filtered = client.get("/create/?tag=golang").content.decode()
    assert "Python service" not in filtered and "No template matches these filters" in filtered
    assert "Python service" not in client.get("/create/?owner=group:default/other").content.decode()


@pytest.mark.django_db
def test_the_create_page_says_what_to_do_when_no_template_is_published(developer, login):
    assert "No software templates are published yet" in login(developer).get("/create/").content.decode()


@pytest.mark.django_db
def test_the_form_shows_every_error_at_once_and_refuses_an_undeclared_parameter(published, team, developer, login):
    response = login(developer).post(
        "/create/templates/python-service/", {**FORM, "name": "Bad Name", "p_port": "80", "p_firewall": "0.0.0.0/0"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "lower case letters" in page and "greater than or equal to 1024" in page
    assert "This template has no parameter &#x27;firewall&#x27;" in page
    assert not ScaffolderRun.objects.exists()


@pytest.mark.django_db
def test_the_preview_shows_the_file_tree_and_contents_before_anything_is_created(
    published, team, developer, login, tmp_path, enqueued
):
    client = login(developer)
    response = client.post("/create/templates/python-service/", FORM)
    run = ScaffolderRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/create/runs/{run.pk}/"
    page = client.get(response["Location"]).content.decode()
    for path in ("catalog-info.yaml", "Dockerfile", ".gitlab-ci.yml", "docs/index.md", "src/payments_api/app.py"):
        assert path in page
    assert "owner: group:default/payments" in page  # catalog-info.yaml is shown first
    dockerfile = client.get(f"/create/runs/{run.pk}/?file=Dockerfile").content.decode()
    assert "FROM python:3.12-slim" in dockerfile and "EXPOSE 8000" in dockerfile
    assert not (tmp_path / "local-git").exists() and enqueued == []  # nothing left the portal
    client.post(f"/create/runs/{run.pk}/create/")
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and enqueued == [run.pk]
    assert [s.key for s in run.steps.all()] == ["render", "repository", "push", "register", "docs"]


@pytest.mark.django_db
def test_a_stranger_sees_no_run_and_cannot_create_it(published, team, developer, stranger, login, client):
    run = services.run_draft(user=developer, template=published, name="payments-api", owner="group:default/payments",
                             destination="local", parameters={"description": "Takes payments."})  # fmt: skip
    client.force_login(stranger)
    assert client.get(f"/create/runs/{run.pk}/").status_code == 404
    assert client.post(f"/create/runs/{run.pk}/create/").status_code == 404
    assert client.get(f"/api/scaffolder/runs/{run.pk}/").status_code == 404
    assert client.get("/create/runs/99999999999999999999999/").status_code == 404


@pytest.mark.django_db
def test_the_owner_must_be_one_of_the_developers_teams(published, team, stranger, login):
    page = login(stranger).post("/create/templates/python-service/", FORM).content.decode()
    assert "ask a team to add you" in page and not ScaffolderRun.objects.exists()


@pytest.mark.django_db
def test_api_lists_templates_and_a_dry_run_returns_the_file_tree_without_creating(published, team, developer, login):
    client = login(developer)
    templates = client.get("/api/scaffolder/templates/?tag=python").json()
    assert templates["results"][0]["name"] == "python-service"
    assert "description" in templates["results"][0]["parameters"]["properties"]
    body = {"template": "python-service", "name": "payments-api", "owner": "group:default/payments",
            "destination": "local", "parameters": {"description": "Takes payments."}, "dry_run": True}  # fmt: skip
    response = client.post("/api/scaffolder/runs/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    files = {f["path"]: f for f in response.json()["files"]}
    assert "name: payments-api" in files["catalog-info.yaml"]["text"] and "mkdocs.yml" in files
    assert not ScaffolderRun.objects.exists()


@pytest.mark.django_db
def test_api_creates_a_run_and_shows_its_steps_and_log(published, team, developer, login, enqueued):
    client = login(developer)
    body = {"template": "python-service", "name": "payments-api", "owner": "group:default/payments",
            "destination": "local", "parameters": {"description": "Takes payments."}}  # fmt: skip
    response = client.post("/api/scaffolder/runs/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    services.run_execute(run_id)
    detail = client.get(f"/api/scaffolder/runs/{run_id}/").json()
    assert detail["state"] == "succeeded"
    assert [s["state"] for s in detail["steps"]] == ["succeeded"] * 5
    assert any(line["text"].startswith("✓ Registered component:default/payments-api") for line in detail["log"])
    assert detail["outputs"]["entity_url"] == "/catalog/Component/default/payments-api/"


@pytest.mark.django_db
def test_api_refuses_unknown_parameters_and_bad_values_with_reasons(published, team, developer, login):
    body = {"template": "python-service", "name": "x", "owner": "group:default/payments", "destination": "nowhere",
            "parameters": {"description": "ok", "evil": 1}, "dry_run": True}  # fmt: skip
    response = login(developer).post("/api/scaffolder/runs/", body, content_type="application/json")
    assert response.status_code == 400
    errors = response.json()
    text = str(errors)
    assert "name" in text and "destination" in text and "no parameter" in text


@pytest.mark.django_db
def test_a_template_asking_for_approval_waits_for_an_approver_who_sees_the_preview(
    custom_template, team, developer, teammate, approver, login, enqueued
):
    template = custom_template("reviewed-service", extra="approval:\n  policy: any\n  group: Approvers\n")
    run = services.run_draft(user=developer, template=template, name="payments-api", owner="group:default/payments",
                             destination="local", parameters={"description": "Takes payments."})  # fmt: skip
    run = services.run_confirm(user=developer, run_id=run.pk)
    assert run.state == RunState.PENDING_APPROVAL and enqueued == []
    with pytest.raises(services.PermissionDenied):
        services.run_approve(user=developer, run_id=run.pk)
    page = login(approver).get(f"/create/runs/{run.pk}/").content.decode()
    assert "catalog-info.yaml" in page and "Approve" in page
    login(approver).post(f"/create/runs/{run.pk}/approve/", {"comment": "fine"})
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and enqueued == [run.pk]


@pytest.mark.django_db
def test_two_distinct_approvers_when_the_template_asks_for_two(custom_template, team, developer, approver,
                                                                platform_admin, enqueued):  # fmt: skip
    template = custom_template("twice-reviewed", extra="approval:\n  policy: distinct\n  count: 2\n")
    run = services.run_confirm(user=developer, run_id=services.run_draft(
        user=developer, template=template, name="payments-api", owner="group:default/payments", destination="local",
        parameters={"description": "Takes payments."}).pk)  # fmt: skip
    services.run_approve(user=approver, run_id=run.pk)
    with pytest.raises(services.IllegalTransition):
        services.run_approve(user=approver, run_id=run.pk)
    run.refresh_from_db()
    assert run.state == RunState.PENDING_APPROVAL
    services.run_approve(user=platform_admin, run_id=run.pk)
    run.refresh_from_db()
    assert run.state == RunState.QUEUED


@pytest.mark.django_db
def test_secret_parameters_are_write_only(custom_template, team, developer, login, enqueued, tmp_path):
    secret = "    api_token:\n      type: string\n      writeOnly: true\n      title: API token\n"
    (tmp_path / "templates" / "python-service" / "skeleton" / "token.txt.jinja").write_text("{{ api_token }}\n")
    template = custom_template("with-secret", parameters=secret)
    from scaffolder import services as s

    client = login(developer)
    form = client.get("/create/templates/with-secret/").content.decode()
    assert 'type="password"' in form
    response = client.post("/create/templates/with-secret/", {**FORM, "p_api_token": "s3cr3t-value"})
    run = ScaffolderRun.objects.get()
    page = client.get(f"{response['Location']}?file=token.txt").content.decode()
    assert "s3cr3t-value" not in page and "••••" in page
    assert run.parameters["api_token"] == "••••" and "s3cr3t-value" not in run.secret_parameters
    s.run_confirm(user=developer, run_id=run.pk)
    assert s.run_execute(run.pk) == "succeeded"
    api = client.get(f"/api/scaffolder/runs/{run.pk}/").content.decode()
    assert "s3cr3t-value" not in api
    assert template.name == "with-secret"


@pytest.mark.django_db
def test_change_the_values_brings_back_the_form_as_it_was_filled(published, team, developer, stranger, login):
    client = login(developer)
    client.post("/create/templates/python-service/", {**FORM, "p_port": "9000"})
    run = ScaffolderRun.objects.get()
    page = client.get(f"/create/runs/{run.pk}/").content.decode()
    assert f"/create/templates/python-service/?from={run.pk}" in page
    form = client.get(f"/create/templates/python-service/?from={run.pk}").content.decode()
    assert 'value="payments-api"' in form and 'value="9000"' in form and 'value="shop"' in form
    other = login(stranger).get(f"/create/templates/python-service/?from={run.pk}").content.decode()
    assert 'value="payments-api"' not in other  # only the requester's own values come back
