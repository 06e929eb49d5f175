"""Pages: dashboards for signed-in users, integrations for Platform Admins only."""

import pytest
from django.urls import reverse

from catalog.models import Entity
from pipelines import secrets
from pipelines.models import Integration, Repository, Run
from portal.extensions import entity_tabs, home_panels_for
from portal.models import AuditEvent
from tests.pipelines import payloads

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments():
    return Entity.objects.create(
        kind="Component",
        name="payments",
        annotations={"github.com/project-slug": "acme/payments"},
        spec={"owner": "group:default/team-a"},
    )


@pytest.fixture
def history(send_github, payments):
    """Three runs on main (the newest failing), one on a branch, jobs, a deployment."""
    for n, conclusion in enumerate(["success", "success", "failure"]):
        send_github(
            "workflow_run",
            payloads.workflow_run(run_id=100 + n, conclusion=conclusion, created_at=f"2026-11-2{n}T10:00:00Z"),
        )
    send_github("workflow_run", payloads.workflow_run(run_id=200, head_branch="feature/x", status="in_progress"))
    send_github("workflow_job", payloads.workflow_job(run_id=102, conclusion="failure"))
    send_github("deployment_status", payloads.deployment_status())


@pytest.mark.parametrize(
    "url",
    ["/pipelines/", "/pipelines/entity/component/default/payments/", "/pipelines/team/default/team-a/"],
)
def test_dashboards_need_a_signed_in_user(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_global_view_lists_failing_default_branches_first(login, developer, history, send_github):
    other = payloads.workflow_run(run_id=300, created_at="2026-11-25T10:00:00Z")
    other["repository"]["full_name"] = "acme/web"
    send_github("workflow_run", other)
    response = login(developer).get("/pipelines/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("acme/payments · CI") < page.index("acme/web · CI")
    assert 'hx-trigger="every 10s"' in page


def test_the_global_view_keeps_its_query_count_flat(login, developer, history, django_assert_max_num_queries):
    client = login(developer)
    with django_assert_max_num_queries(12):
        assert client.get("/pipelines/").status_code == 200


def test_the_global_view_answers_htmx_polls_with_the_table_only(login, developer, history):
    response = login(developer).get("/pipelines/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"pipelines-overview" in response.content


def test_the_global_view_explains_what_to_do_when_empty(login, developer, platform_admin):
    assert b"A Platform Admin adds a CI integration" in login(developer).get("/pipelines/").content
    assert b"Add a CI integration" in login(platform_admin).get("/pipelines/").content


def test_the_entity_dashboard_shows_branches_runs_stats_charts_and_dora(
    login, developer, history, payments, django_assert_max_num_queries
):
    client = login(developer)
    with django_assert_max_num_queries(30):
        response = client.get("/pipelines/entity/component/default/payments/?days=90")
    assert response.status_code == 200
    page = response.content.decode()
    assert "feature/x" in page and "Last 20 runs" in page
    assert "<svg" in page and "Deployment frequency" in page
    assert "Median duration" in page
    assert 'value="90" selected' in page


def test_the_entity_dashboard_polls_only_the_live_part(login, developer, history):
    response = login(developer).get("/pipelines/entity/component/default/payments/", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"Status per branch" in response.content
    assert b"DORA" not in response.content


def test_a_bad_window_falls_back_to_30_days(login, developer, payments):
    response = login(developer).get("/pipelines/entity/component/default/payments/?days=abc")
    assert response.status_code == 200
    assert b'value="30" selected' in response.content


def test_the_team_dashboard_covers_the_services_the_team_owns(login, developer, history):
    Entity.objects.create(kind="Group", name="team-a")
    response = login(developer).get("/pipelines/team/default/team-a/")
    assert response.status_code == 200
    assert b"1 service owned by this team" in response.content
    assert b"acme/payments" in response.content


def test_an_unknown_entity_or_run_is_a_404(login, developer):
    client = login(developer)
    assert client.get("/pipelines/entity/component/default/nope/").status_code == 404
    assert client.get("/pipelines/runs/999999/").status_code == 404


def test_the_run_page_shows_jobs_and_steps(login, developer, history, django_assert_max_num_queries):
    run = Run.objects.get(provider_id="102")
    client = login(developer)
    with django_assert_max_num_queries(10):
        response = client.get(run.get_absolute_url())
    page = response.content.decode()
    assert "test (3.12)" in page and "Run pytest" in page
    assert "hx-trigger" not in page.split('id="main"')[1]  # finished: no polling


def test_a_running_run_page_polls_for_updates(login, developer, history):
    run = Run.objects.get(provider_id="200")
    assert b'hx-trigger="every 10s"' in login(developer).get(run.get_absolute_url()).content


def test_the_home_panel_lists_recent_failures(developer, history):
    panel = next(p for p in home_panels_for(developer) if p.key == "recent-failures")
    items = panel.context(developer)["items"]
    assert [item["label"] for item in items] == ["acme/payments · CI #562"]
    assert items[0]["url"] == Run.objects.get(provider_id="102").get_absolute_url()


def test_the_home_page_shows_the_failure(login, developer, history):
    response = login(developer).get("/")
    assert b"acme/payments \xc2\xb7 CI #562" in response.content


def test_the_entity_tab_renders_the_entitys_runs(developer, history, payments, rf):
    from django.template.loader import render_to_string

    tab = next(t for t in entity_tabs() if t.key == "pipelines")
    context = tab.context(payments, developer)
    request = rf.get("/")
    request.user = developer
    html = render_to_string(tab.template, context, request=request)
    assert "feature/x" in html and "Dashboard with DORA metrics" in html


# --- integrations --------------------------------------------------------------------


@pytest.mark.parametrize("user", ["developer", "approver", "stranger"])
def test_only_platform_admins_see_or_change_integrations(request, login, user, github):
    client = login(request.getfixturevalue(user))
    assert client.get("/pipelines/integrations/").status_code == 403
    assert client.post("/pipelines/integrations/new/", {"provider": "github", "name": "x"}).status_code == 403
    assert client.post(f"/pipelines/integrations/{github.integration.pk}/rotate/").status_code == 403
    assert client.post(f"/pipelines/integrations/{github.integration.pk}/delete/").status_code == 403
    assert Integration.objects.count() == 1


def test_an_admin_creates_an_integration_and_sees_the_secret_once(login, platform_admin):
    client = login(platform_admin)
    response = client.post(
        "/pipelines/integrations/new/",
        {"provider": "gitlab", "name": "GitLab shop", "repositories": "shop/*", "secret_source": "generate"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    integration = Integration.objects.get()
    secret = secrets.decrypt(integration.secret_encrypted)
    page = response.content.decode()
    assert secret in page and integration.receiver_path() in page and "Secret token" in page
    assert secret not in client.get("/pipelines/integrations/").content.decode()
    event = AuditEvent.objects.get(action="pipelines.integration.create")
    assert secret not in str(event.changes)


def test_a_duplicate_integration_name_is_a_form_error(login, platform_admin, github):
    response = login(platform_admin).post(
        "/pipelines/integrations/new/",
        {"provider": "github", "name": "github ACME", "repositories": "acme/*", "secret_source": "generate"},
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_rotating_the_secret_stops_the_old_one(login, platform_admin, github, send_github):
    response = login(platform_admin).post(f"/pipelines/integrations/{github.integration.pk}/rotate/")
    assert response.status_code == 200
    assert send_github("ping", payloads.ping()).status_code == 401  # signed with the old secret
    assert AuditEvent.objects.filter(action="pipelines.integration.rotate").exists()


def test_deleting_an_integration_makes_its_receiver_404(login, platform_admin, github, send_github):
    response = login(platform_admin).post(f"/pipelines/integrations/{github.integration.pk}/delete/")
    assert response.status_code == 302
    assert send_github("ping", payloads.ping()).status_code == 404
    assert AuditEvent.objects.filter(action="pipelines.integration.delete").exists()


def test_admin_forms_keep_csrf_protection(client, platform_admin):
    client.handler.enforce_csrf_checks = True
    client.force_login(platform_admin)
    response = client.post("/pipelines/integrations/new/", {"provider": "github", "name": "x"})
    assert response.status_code == 403
    assert not Integration.objects.exists()


def test_an_admin_links_an_unmatched_repository(login, platform_admin, send_github):
    send_github("workflow_run", payloads.workflow_run())
    repo = Repository.objects.get()
    client = login(platform_admin)
    assert b"acme/payments" in client.get("/pipelines/integrations/").content
    entity = Entity.objects.create(kind="Component", name="ledger")
    response = client.post(f"/pipelines/repositories/{repo.pk}/link/", {"entity": "component:default/ledger"})
    assert response.status_code == 302
    repo.refresh_from_db()
    assert repo.entity == entity and repo.linked_manually
    assert AuditEvent.objects.filter(action="pipelines.repository.link").exists()
    bad = client.post(f"/pipelines/repositories/{repo.pk}/link/", {"entity": "component:default/nope"}, follow=True)
    assert b"No catalog entity" in bad.content


def test_a_developer_cannot_link_repositories(login, developer, send_github):
    send_github("workflow_run", payloads.workflow_run())
    repo = Repository.objects.get()
    response = login(developer).post(f"/pipelines/repositories/{repo.pk}/link/", {"entity": ""})
    assert response.status_code == 403


def test_the_django_admin_lists_deliveries_without_secrets(login, platform_admin, send_github, github):
    send_github("ping", payloads.ping())
    client = login(platform_admin)
    assert client.get("/admin/pipelines/delivery/").status_code == 200
    page = client.get(f"/admin/pipelines/integration/{github.integration.pk}/change/").content.decode()
    assert github.secret not in page and github.integration.secret_encrypted not in page
