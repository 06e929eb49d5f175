"""What a CI user expects to see: commit titles, actors, triggers, the CI's own names, a chart that reads
well with one point, and DORA figures with the counts behind them."""

from datetime import UTC, datetime

import pytest

from catalog.models import Entity
from pipelines import charts, selectors
from pipelines.models import Run
from pipelines.templatetags.pipelines_tags import metric_basis, trend_symbol
from tests.pipelines import payloads
from tests.pipelines.fixtures import load
from tests.pipelines.test_dora import NOW, fixture_repo  # noqa: F401  (the hand-computed DORA fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments():
    return Entity.objects.create(
        kind="Component",
        name="payments",
        annotations={"github.com/project-slug": "acme/payments", "gitlab.com/project-slug": "gitlab-org/gitlab-test"},
        spec={"owner": "group:default/team-a"},
    )


@pytest.mark.parametrize(
    "event, shown",
    [("push", "push"), ("pull_request", "pull request"), ("schedule", "schedule"), ("workflow_dispatch", "manual")],
)
def test_the_run_lists_show_the_commit_title_the_actor_and_the_trigger(
    login, developer, payments, send_github, event, shown
):
    send_github("workflow_run", payloads.workflow_run(event=event))
    page = login(developer).get("/pipelines/entity/component/default/payments/").content.decode()
    runs = page.split("Last 20 runs")[1]
    assert "Fix the ledger rounding" in runs
    assert f'<td>{shown}<br><span class="muted">by octocat</span></td>' in runs
    overview = login(developer).get("/pipelines/").content.decode()
    assert "Fix the ledger rounding" in overview and shown in overview


def test_a_gitlab_pipeline_shows_gitlabs_own_name(login, developer, payments, send_gitlab):
    send_gitlab("Pipeline Hook", load("gitlab-docs/pipeline.json"))
    run = Run.objects.get()
    assert run.name == "Pipeline for branch: master"
    page = login(developer).get("/pipelines/entity/component/default/payments/").content.decode()
    assert "Pipeline for branch: master #3" in page
    assert "merge request" in page  # GitLab's source merge_request_event
    assert "Pipeline for branch: master" in login(developer).get(run.get_absolute_url()).content.decode()


def test_a_run_known_only_from_its_jobs_has_its_workflows_name_and_a_link_to_the_ci(login, developer, send_github):
    send_github("workflow_job", load("octokit/workflow_job/completed.success.with-organization.payload.json"))
    run = Run.objects.select_related("pipeline").get()
    assert run.pipeline.name == "CodeQL"
    assert run.url == "https://github.com/Codertocat/Hello-World/actions/runs/2202229078"
    page = login(developer).get(run.get_absolute_url()).content.decode()
    assert "CodeQL #2202229078</h1>" in page
    assert f'<a href="{run.url}" rel="noopener">Open in the CI</a>' in page
    listed = login(developer).get("/pipelines/").content.decode()
    assert "Codertocat/Hello-World · CodeQL" in listed


def test_the_link_from_a_job_matches_the_run_event_that_follows(send_github):
    send_github("workflow_job", payloads.workflow_job())
    run = Run.objects.get()
    assert run.url == "https://github.com/acme/payments/actions/runs/30433642"
    send_github("workflow_run", payloads.workflow_run())
    assert Run.objects.get().url == run.url


def test_a_gitlab_job_hook_names_its_pipeline_and_commit(send_gitlab):
    send_gitlab("Job Hook", load("gitlab-docs/job.json"))
    run = Run.objects.get()
    assert (run.name, run.title) == ("Build pipeline", "test")


def test_the_duration_chart_reads_well_with_one_point():
    series = [{"day": datetime(2026, 11, d, tzinfo=UTC).date(), "success": 0, "failed": 0, "avg": None} for d in (1, 2)]
    series.append({"day": datetime(2026, 11, 3, tzinfo=UTC).date(), "success": 1, "failed": 0, "avg": 390.0})
    svg = str(charts.duration_chart(series))
    assert "03 Nov: 6.5 min</text>" in svg  # the value written out, not only in a tooltip
    assert "polyline" not in svg  # no one-point line
    assert 'r="5"' in svg and "chart-guide" in svg


def test_the_duration_chart_with_many_points_draws_a_line():
    series = [
        {"day": datetime(2026, 11, d, tzinfo=UTC).date(), "success": 1, "failed": 0, "avg": 60.0 * d} for d in (1, 2, 3)
    ]
    assert "polyline" in str(charts.duration_chart(series))


def _metrics(repos=None, now=NOW):
    from pipelines.models import Repository

    return {m.key: m for m in selectors.dora_metrics(repos or Repository.objects.all(), days=30, now=now)}


def test_dora_cards_say_the_counts_behind_each_figure(fixture_repo):  # noqa: F811
    metrics = _metrics()
    assert metric_basis(metrics["deployment_frequency"]) == "4 successful production deployments"
    assert metric_basis(metrics["change_lead_time"]) == "median of 4 deployments with a known commit time"
    assert metric_basis(metrics["change_fail_rate"]) == "2 of 5 production deployments failed or caused an incident"
    assert metric_basis(metrics["recovery_time"]) == "median of 2 recoveries (failed deployments and incidents)"


def test_arrows_say_which_way_is_good_for_each_metric():
    fail_rate_down = selectors.Metric("change_fail_rate", "", 0.1, "high", 0.4, False, 10, 1)
    frequency_down = selectors.Metric("deployment_frequency", "", 0.1, "medium", 0.4, True, 3)
    lead_time_up = selectors.Metric("change_lead_time", "", 7200, "elite", 3600, False, 3)
    assert trend_symbol(fail_rate_down) == "↓ better"
    assert trend_symbol(frequency_down) == "↓ worse"
    assert trend_symbol(lead_time_up) == "↑ worse"
    assert trend_symbol(selectors.Metric("x", "", None, None, 1, True, 0)) == ""


def test_the_dashboard_links_to_the_deployments_and_incidents_counted(login, developer, fixture_repo):  # noqa: F811
    page = login(developer).get("/pipelines/entity/component/default/payments/").content.decode()
    assert "/pipelines/entity/Component/default/payments/dora/?days=30" in page
    assert "failed or caused an incident" in page


def test_the_drill_down_lists_what_each_figure_counted(login, developer, fixture_repo, django_assert_max_num_queries):  # noqa: F811
    from django.utils import timezone

    from pipelines.models import Deployment, Incident

    # The fixture's window ends on 30 November; move its rows so the page's window (the last 30 days) holds them.
    shift = timezone.now() - NOW
    for deployment in Deployment.objects.all():
        Deployment.objects.filter(pk=deployment.pk).update(
            finished_at=deployment.finished_at + shift,
            created_at=deployment.created_at + shift,
            commit_at=deployment.commit_at + shift,
        )
    for incident in Incident.objects.all():
        Incident.objects.filter(pk=incident.pk).update(
            started_at=incident.started_at + shift, resolved_at=incident.resolved_at + shift
        )
    client = login(developer)
    with django_assert_max_num_queries(20):
        response = client.get("/pipelines/entity/component/default/payments/dora/?days=30")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Production deployments (5)" in page  # D1–D5; D0 is older, S1 is staging
    assert page.count('badge-bad">failed change') == 2  # D2 failed, D4 named by an incident
    assert "recovered after 3h 00m" in page  # D2 by D3
    assert "an incident names it" in page
    assert "Incidents (1)" in page and "Ledger errors" in page and "30m 00s" in page
    assert "2 of 5 production deployments failed or caused an incident" in page


def test_the_team_drill_down_and_an_unknown_subject(login, developer, fixture_repo):  # noqa: F811
    client = login(developer)
    assert client.get("/pipelines/team/default/team-a/dora/?days=7").status_code == 200
    assert client.get("/pipelines/team/default/nobody/dora/").status_code == 404
    assert client.get("/pipelines/entity/component/default/nope/dora/").status_code == 404
    assert client.get("/pipelines/entity/component/default/payments/dora/?page=abc").status_code == 200


def test_the_drill_down_explains_an_empty_window(login, developer, payments):
    page = login(developer).get("/pipelines/entity/component/default/payments/dora/").content.decode()
    assert "No production deployment finished in these 30 days" in page
    assert "No incident started in these 30 days" in page
