"""History and repair from the providers' APIs (issue #21, "What to build" 1).

The APIs are tests/githost_api.py: a local HTTP server answering with recorded real responses,
re-dated so they fall inside the backfill window:

* GitHub: tests/fixtures/githosts/pipelines_github.json, real api.github.com answers recorded by
  PyGithub/PyGithub's test suite (tests/ReplayData/WorkflowRun.setUp.txt: run 3881497935 of “CI”;
  WorkflowRun.test_jobs.txt: its five jobs; Repository.testGetDeployments.txt and
  DeploymentStatus.testGetStatuses.txt: deployments and statuses), at the commit named in the file;
  the secondary rate limit from tests/fixtures/githosts/github_rate_limits.json (KnpLabs/php-github-api
  issue 1070, GitHub's docs).
* GitLab: tests/fixtures/githosts/pipelines_gitlab.json, the example responses of gitlabhq/gitlabhq
  doc/api/pipelines.md (pipeline 287, “Build pipeline”, duration 34 s), doc/api/jobs.md (jobs 6 and 7)
  and doc/api/deployments.md (deployments 41 and 42 to production), at the commits named in the file.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipelines import services, tasks
from pipelines.models import Deployment, HistoryState, Job, Pipeline, Repository, Run
from portal.githosts.httpclient import GitHostClient

pytestmark = pytest.mark.django_db

SLUG = "acme/shop"
RECORDED_RUN = 3881497935  # PyGithub's recorded run of the “CI” workflow


@pytest.fixture
def queued_syncs(monkeypatch):
    """The history syncs services queue (tests run them themselves)."""
    queued = []
    monkeypatch.setattr(tasks.sync_repository_history, "delay", lambda pk: queued.append((pk, None)))
    monkeypatch.setattr(
        tasks.sync_repository_history, "apply_async", lambda args, eta=None, **k: queued.append((args[0], eta))
    )
    return queued


def _connect(admin, git_server, days=None) -> Repository:
    return services.repository_connect(actor=admin, url=f"{git_server.base_url}/{SLUG}", days=days)


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_connecting_a_github_repository_backfills_runs_jobs_and_deployments_across_pages(
    github_api, git_server, platform_admin, queued_syncs
):
    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=150)
    # One run from before the window (100 days ago): listed on the second page, not read.
    old = dict(history["runs"][-1], id=42, run_number=1)
    old["created_at"] = old["updated_at"] = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history["runs"].append(old)
    history["jobs"]["42"] = []

    repo = _connect(platform_admin, git_server)
    assert repo.history_state == HistoryState.QUEUED and repo.history_days == 90
    result = services.repository_history_sync(repository_id=repo.pk)

    assert result.state == HistoryState.SYNCED
    runs = Run.objects.filter(pipeline__repository=repo)
    assert runs.count() == 150
    assert not runs.filter(provider_id="42").exists()
    # Both pages of runs were read, following GitHub's Link header.
    listed = [r for r in github_api.requests if r["path"].endswith("/actions/runs")]
    assert [r["query"].get("page") for r in listed] == [None, "2"]
    run = Run.objects.get(provider_id=str(RECORDED_RUN))
    assert run.pipeline.name == "CI" and run.status == "success" and run.branch == "feat/workflow-run"
    assert run.event == "pull_request" and run.number and run.url.endswith(f"/actions/runs/{RECORDED_RUN}")
    assert sorted(Job.objects.filter(run=run).values_list("name", flat=True)) == [
        "test (Python 3.10)",
        "test (Python 3.11-dev)",
        "test (Python 3.7)",
        "test (Python 3.8)",
        "test (Python 3.9)",
    ]
    assert Job.objects.filter(run__pipeline__repository=repo).count() == 750
    # The deployment with statuses (three “queued” to “test”) is known, as its deployment_status hooks would make it.
    deployment = Deployment.objects.get(repository=repo, provider_id="263877258")
    assert deployment.environment == "test" and deployment.status == "pending" and not deployment.is_production
    repo.refresh_from_db()
    assert repo.history_state == HistoryState.SYNCED and repo.history_synced_at is not None
    assert repo.default_branch == "main"  # from the repository object: the dashboards' default-branch status


def test_a_reconcile_with_nothing_new_gets_304s_and_writes_nothing(
    github_api, git_server, platform_admin, queued_syncs
):
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=3)
    repo = _connect(platform_admin, git_server)
    services.repository_history_sync(repository_id=repo.pk)
    github_api.requests.clear()

    with CaptureQueriesContext(connection) as queries:
        result = services.repository_history_sync(repository_id=repo.pk)

    assert result.state == HistoryState.SYNCED and result.applied == 0
    # One conditional request for the repository (its runs list), answered 304; deployments made by the CI
    # would have changed a run, so their list is not asked for as well.
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in github_api.requests] == [("runs", 304)]
    assert all(r["if_none_match"] for r in github_api.requests)
    assert _writes(queries) == []


def test_a_reconcile_repairs_a_run_whose_delivery_was_lost(github_api, git_server, platform_admin, queued_syncs):
    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=3)
    repo = _connect(platform_admin, git_server)
    services.repository_history_sync(repository_id=repo.pk)
    second = history["runs"][1]["id"]
    assert Run.objects.get(provider_id=str(second)).status == "success"

    # The run was re-run and failed; the workflow_run delivery never reached Bridge.
    github_api.ci_update_run(SLUG, second, conclusion="failure")
    github_api.requests.clear()
    result = services.repository_history_sync(repository_id=repo.pk)

    assert result.applied == 1
    assert Run.objects.get(provider_id=str(second)).status == "failed"
    # Only the changed run's jobs were asked for; the other runs were skipped without a request.
    jobs = [r["path"] for r in github_api.requests if r["path"].endswith("/jobs")]
    assert jobs == [f"/api/v3/repos/{SLUG}/actions/runs/{second}/jobs"]


def test_a_secondary_rate_limit_shows_waiting_and_the_sync_resumes(
    github_api, git_server, platform_admin, queued_syncs, client
):
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=150)
    repo = _connect(platform_admin, git_server)
    # The first page is read (repository, list, the jobs of its 100 runs, a few at a time), then GitHub answers
    # the second page 403 “secondary rate limit” with Retry-After.
    github_api.limit_next(1, kind="secondary", retry_after=2, after=102)

    result = services.repository_history_sync(repository_id=repo.pk, http=GitHostClient(max_rate_wait=0.5))

    assert result.state == HistoryState.WAITING
    assert 403 in [r["status"] for r in github_api.requests]
    repo.refresh_from_db()
    assert repo.history_state == HistoryState.WAITING and repo.history_retry_at is not None
    assert Run.objects.filter(pipeline__repository=repo).count() == 100  # what was read before the limit stays
    assert github_api.requests[-1]["query"].get("page") == "2" and github_api.requests[-1]["status"] == 403
    # The resume is queued for the time GitHub named.
    assert queued_syncs[-1] == (repo.pk, repo.history_retry_at)
    client.force_login(platform_admin)
    page = client.get(reverse("pipelines:integrations")).content.decode()
    assert "Waiting for rate limit" in page and repo.history_retry_at.strftime("%H:%M") in page

    time.sleep(max(0.0, (repo.history_retry_at - datetime.now(UTC)).total_seconds()) + 0.2)
    resumed = services.repository_history_sync(repository_id=repo.pk, http=GitHostClient(max_rate_wait=0.5))

    assert resumed.state == HistoryState.SYNCED
    assert Run.objects.filter(pipeline__repository=repo).count() == 150
    repo.refresh_from_db()
    assert repo.history_state == HistoryState.SYNCED and repo.history_retry_at is None
    page = client.get(reverse("pipelines:integrations")).content.decode()
    assert "Waiting for rate limit" not in page and "Up to date" in page


def test_a_run_that_came_by_webhook_and_by_api_is_one_run(
    github_api, git_server, platform_admin, queued_syncs, send_github
):
    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=1, deployments=False)
    recorded = history["runs"][0]
    repository = {"full_name": SLUG, "html_url": f"{git_server.base_url}/{SLUG}", "default_branch": "main"}
    # The workflow_run webhook carries the same run object the API lists.
    assert (
        send_github(
            "workflow_run", {"action": "completed", "workflow_run": recorded, "repository": repository}
        ).status_code
        == 202
    )
    for job in history["jobs"][str(recorded["id"])][:2]:
        send_github("workflow_job", {"action": "completed", "workflow_job": job, "repository": repository})
    before = Run.objects.get(provider_id=str(recorded["id"]))

    repo = _connect(platform_admin, git_server)
    services.repository_history_sync(repository_id=repo.pk)

    assert Repository.objects.filter(slug=SLUG).count() == 1
    assert Pipeline.objects.filter(repository=repo).count() == 1
    run = Run.objects.get(provider_id=str(recorded["id"]))
    assert run.pk == before.pk and Run.objects.filter(pipeline__repository=repo).count() == 1
    assert Job.objects.filter(run=run).count() == 5  # two by webhook, three more by API, none twice
    fields = ("status", "branch", "commit_sha", "number", "event", "title", "url", "created_at", "finished_at")
    assert {f: getattr(run, f) for f in fields} == {f: getattr(before, f) for f in fields}

    # And a late webhook for the same run after the API changes nothing.
    send_github("workflow_run", {"action": "completed", "workflow_run": recorded, "repository": repository})
    assert Run.objects.filter(pipeline__repository=repo).count() == 1


def test_gitlab_pipelines_with_their_jobs_and_deployments(gitlab_api, git_server, platform_admin, queued_syncs):
    gitlab_api.add(SLUG)
    gitlab_api.ci_history(SLUG, runs=3)
    repo = _connect(platform_admin, git_server)
    assert repo.provider == "gitlab"

    result = services.repository_history_sync(repository_id=repo.pk)

    assert result.state == HistoryState.SYNCED
    runs = Run.objects.filter(pipeline__repository=repo)
    assert runs.count() == 3
    run = runs.get(provider_id="287")
    # GitLab's own figures: its pipeline name, its duration (34 s), who ran it.
    assert run.name == "Build pipeline" and run.duration_seconds == 34 and run.actor == "root"
    assert run.status == "success" and run.branch == "main" and run.number == 144
    jobs = {job.name: job for job in Job.objects.filter(run=run)}
    assert set(jobs) == {"rspec:other", "teaspoon"}
    assert jobs["teaspoon"].status == "failed" and jobs["teaspoon"].stage == "test"
    deployments = Deployment.objects.filter(repository=repo).order_by("provider_id")
    assert [(d.provider_id, d.environment, d.is_production) for d in deployments] == [
        ("41", "production", True),
        ("42", "production", True),
    ]
    assert deployments[0].commit_sha == "99d03678b90d914dbb1b109132516d71a4a03ea8"
    assert deployments[0].created_at < deployments[1].created_at

    gitlab_api.requests.clear()
    with CaptureQueriesContext(connection) as queries:
        again = services.repository_history_sync(repository_id=repo.pk)
    assert again.applied == 0 and [r["status"] for r in gitlab_api.requests] == [304]
    assert _writes(queries) == []


def test_admins_connect_from_the_integrations_page_and_the_backfill_runs(
    github_api, git_server, platform_admin, developer, client, monkeypatch, django_capture_on_commit_callbacks
):
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=2)
    monkeypatch.setattr(tasks.sync_repository_history, "delay", lambda pk: tasks.sync_repository_history(pk))
    url = reverse("pipelines:repository-connect")

    client.force_login(developer)
    assert client.post(url, {"url": f"{git_server.base_url}/{SLUG}", "days": 30}).status_code == 403

    client.force_login(platform_admin)
    page = client.get(reverse("pipelines:integrations")).content.decode()
    assert "Connect a repository" in page and "No repository is connected yet" in page
    bad = client.post(url, {"url": "https://nowhere.example/acme/shop", "days": 30})
    assert bad.status_code == 400 and "has no Git integration" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"url": f"{git_server.base_url}/{SLUG}", "days": 30})
    assert response.status_code == 302

    repo = Repository.objects.get(slug=SLUG)
    assert repo.history_connected and repo.history_days == 30 and repo.history_state == HistoryState.SYNCED
    assert Run.objects.filter(pipeline__repository=repo).count() == 2
    page = client.get(reverse("pipelines:integrations")).content.decode()
    assert SLUG in page and "Up to date" in page and "30 days" in page

    response = client.post(reverse("pipelines:repository-disconnect", args=[repo.pk]))
    assert response.status_code == 302
    repo.refresh_from_db()
    assert not repo.history_connected and Run.objects.filter(pipeline__repository=repo).count() == 2  # runs stay
    assert "No repository is connected yet" in client.get(reverse("pipelines:integrations")).content.decode()


def test_the_commands_backfill_and_reconcile(github_api, git_server, platform_admin, queued_syncs, capsys):
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=2)

    call_command("pipelines_backfill", f"{git_server.base_url}/{SLUG}", "--days", "7")
    out = capsys.readouterr().out
    assert f"{SLUG}: up to date, 3 runs or deployments read" in out
    assert Run.objects.filter(pipeline__repository__slug=SLUG).count() == 2

    call_command("pipelines_reconcile")
    out = capsys.readouterr().out
    assert f"{SLUG}: up to date, nothing new (1 request)" in out


def test_the_api_connects_lists_and_syncs_for_platform_admins_only(
    github_api, git_server, platform_admin, developer, client, queued_syncs, django_capture_on_commit_callbacks
):
    github_api.add(SLUG)
    url = reverse("pipelines-api:repository-list")
    client.force_login(developer)
    assert client.get(url).status_code == 403
    assert (
        client.post(url, {"url": f"{git_server.base_url}/{SLUG}"}, content_type="application/json").status_code == 403
    )

    client.force_login(platform_admin)
    refused = client.post(url, {"url": "ftp://example.com/a/b"}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["url"] == "Only http and https URLs are read, not ftp: URLs."
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            url, {"url": f"{git_server.base_url}/{SLUG}", "days": 14}, content_type="application/json"
        )
    assert created.status_code == 201
    body = created.json()
    assert body["slug"] == SLUG and body["days"] == 14 and body["state"] == "queued" and body["provider"] == "github"
    assert queued_syncs == [(body["id"], None)]  # the backfill is queued once the connection is committed

    listed = client.get(url).json()
    assert [r["slug"] for r in listed["results"]] == [SLUG]
    with django_capture_on_commit_callbacks(execute=True):
        synced = client.post(reverse("pipelines-api:repository-sync", args=[body["id"]]))
    assert synced.status_code == 202 and len(queued_syncs) == 2


def test_a_token_the_host_refuses_shows_failed_with_the_reason(
    github_api, git_server, platform_admin, queued_syncs, client
):
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=1)
    repo = _connect(platform_admin, git_server)
    github_api.bad_credentials = True

    result = services.repository_history_sync(repository_id=repo.pk)

    assert result.state == HistoryState.FAILED
    repo.refresh_from_db()
    assert repo.history_state == HistoryState.FAILED and "check the integration's token" in repo.history_error
    assert "ghp_test_token" not in repo.history_error  # the token never reaches a message
    client.force_login(platform_admin)
    page = client.get(reverse("pipelines:integrations")).content.decode()
    assert "Failed" in page and "refused access (401)" in page

    github_api.bad_credentials = False  # the admin fixed the token and pressed "Sync now"
    assert services.repository_history_sync(repository_id=repo.pk).state == HistoryState.SYNCED
    assert Run.objects.filter(pipeline__repository=repo).count() == 1


def test_a_reconcile_of_repositories_with_nothing_new_makes_one_request_each_and_writes_nothing(
    github_api, git_server, platform_admin, queued_syncs
):
    # Issue 21's budget: ≤ 1 request per repository, 0 rows written. One repository has two pages of runs and
    # deployments, the other one page.
    github_api.add(SLUG)
    github_api.ci_history(SLUG, runs=120)
    github_api.add("acme/api")
    github_api.ci_history("acme/api", runs=2)
    repos = [_connect(platform_admin, git_server), services.repository_connect(
        actor=platform_admin, url=f"{git_server.base_url}/acme/api"
    )]  # fmt: skip
    services.repositories_history_reconcile(inline=True)  # the backfills
    before = list(Run.objects.order_by("pk").values_list("pk", "updated_at"))
    jobs_before = Job.objects.count()
    github_api.requests.clear()

    with CaptureQueriesContext(connection) as queries:
        results = services.repositories_history_reconcile(inline=True)

    assert [r.state for r in results] == [HistoryState.SYNCED] * 2 and all(r.applied == 0 for r in results)
    for repo in repos:
        asked = [r for r in github_api.requests if r["path"].startswith(f"/api/v3/repos/{repo.slug}/")]
        assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in asked] == [("runs", 304)]
    assert len(github_api.requests) == 2
    assert _writes(queries) == []
    assert list(Run.objects.order_by("pk").values_list("pk", "updated_at")) == before
    assert Job.objects.count() == jobs_before


def test_deployments_are_read_when_the_runs_changed_and_every_few_hours(
    github_api, git_server, platform_admin, queued_syncs, settings
):
    from django.core.cache import caches

    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=2)
    repo = _connect(platform_admin, git_server)
    services.repository_history_sync(repository_id=repo.pk)

    # A run changed (its delivery was lost): the deployments list is asked too (a workflow may have deployed).
    github_api.ci_update_run(SLUG, history["runs"][0]["id"], conclusion="failure")
    github_api.requests.clear()
    services.repository_history_sync(repository_id=repo.pk)
    lists = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in github_api.requests if "jobs" not in r["path"]]
    assert lists == [("runs", 200), ("deployments", 304)]

    # Another tool deployed, and its webhook was lost: nothing in the runs shows it; the reconcile after
    # PIPELINES_HISTORY_DEPLOYMENTS_SECONDS (the remembered check expires) finds it.
    recorded = next(d for d in history["deployments"] if history["statuses"][str(d["id"])])
    extra = dict(recorded, id=999001)
    history["deployments"].insert(0, extra)
    history["statuses"]["999001"] = history["statuses"][str(recorded["id"])]
    github_api.requests.clear()
    assert services.repository_history_sync(repository_id=repo.pk).applied == 0
    assert [r["status"] for r in github_api.requests] == [304]
    caches[settings.PIPELINES_KICK_CACHE].delete(f"pipelines:history:deployments:{repo.pk}")
    github_api.requests.clear()
    assert services.repository_history_sync(repository_id=repo.pk).applied == 1
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in github_api.requests][:2] == [
        ("runs", 304),
        ("deployments", 200),
    ]
    assert Deployment.objects.filter(repository=repo, provider_id="999001").exists()


def test_a_running_run_is_asked_for_after_a_304_only_when_the_first_page_does_not_show_it(
    github_api, git_server, platform_admin, queued_syncs
):
    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=150, deployments=False)
    recent, old = history["runs"][1], history["runs"][140]  # on the first page of runs, and on the second
    for run in (recent, old):
        run.update(status="in_progress", conclusion=None)
    repo = _connect(platform_admin, git_server)
    services.repository_history_sync(repository_id=repo.pk)
    assert Run.objects.get(provider_id=str(old["id"])).status == "running"

    # Nothing changed: the unchanged first page shows the recent run as it was; only the old one is asked for.
    github_api.requests.clear()
    services.repository_history_sync(repository_id=repo.pk)
    assert [r["path"].rsplit("/", 2)[-2:] for r in github_api.requests] == [
        ["actions", "runs"],
        ["runs", str(old["id"])],
    ]

    # The old run finished (GitHub lists runs by creation, so the first page stays the same): found.
    github_api.ci_update_run(SLUG, old["id"], status="completed", conclusion="success")
    github_api.requests.clear()
    assert services.repository_history_sync(repository_id=repo.pk).applied == 1
    assert Run.objects.get(provider_id=str(old["id"])).status == "success"


def test_a_backfill_writes_a_page_of_runs_with_as_many_queries_as_a_few_runs(
    github_api, git_server, platform_admin, queued_syncs
):
    """Runs, jobs and commits of a page are written in one statement each and the summaries once per page: the
    queries of a page of 100 runs do not grow with its runs (they were about ten per run)."""
    github_api.add(SLUG)
    github_api.add("acme/small")
    github_api.ci_history(SLUG, runs=100, deployments=False)
    github_api.ci_history("acme/small", runs=3, deployments=False)
    counts = {}
    for slug in ("acme/small", SLUG):
        repo = services.repository_connect(actor=platform_admin, url=f"{git_server.base_url}/{slug}")
        with CaptureQueriesContext(connection) as queries:
            result = services.repository_history_sync(repository_id=repo.pk)
        assert result.state == HistoryState.SYNCED
        counts[slug] = (len(queries), len(_writes(queries)))

    assert Run.objects.filter(pipeline__repository__slug=SLUG).count() == 100
    assert Job.objects.filter(run__pipeline__repository__slug=SLUG).count() == 500
    small, page = counts["acme/small"], counts[SLUG]
    # 97 more runs (485 more jobs) cost a few statements more, not ~970: SQLite takes at most 999 values per
    # statement, so Django splits the jobs' INSERT in about eight (PostgreSQL takes them in one).
    assert page[0] - small[0] <= 10 and page[1] - small[1] <= 10, counts
    assert page[0] <= 40, counts


def test_a_rate_limit_on_one_of_the_jobs_fetched_at_once_stops_them_all_and_keeps_the_runs_before_it(
    github_api, git_server, platform_admin, queued_syncs
):
    github_api.add(SLUG)
    history = github_api.ci_history(SLUG, runs=30, deployments=False)
    repo = _connect(platform_admin, git_server)
    # Jobs are asked for four at a time; the 11th request (the 9th jobs request) gets GitHub's secondary limit.
    github_api.limit_next(1, kind="secondary", retry_after=1, after=10)

    result = services.repository_history_sync(repository_id=repo.pk, http=GitHostClient(max_rate_wait=0.5))

    assert result.state == HistoryState.WAITING
    repo.refresh_from_db()
    assert repo.history_state == HistoryState.WAITING and repo.history_retry_at is not None
    stored = set(Run.objects.filter(pipeline__repository=repo).values_list("provider_id", flat=True))
    # Kept: the newest runs, in order, up to the one whose jobs were refused; none after it, none without jobs.
    newest = [str(run["id"]) for run in history["runs"]]
    assert len(stored) < 30 and stored == set(newest[: len(stored)])
    assert Job.objects.filter(run__pipeline__repository=repo).count() == 5 * len(stored)

    time.sleep(max(0.0, (repo.history_retry_at - datetime.now(UTC)).total_seconds()) + 0.2)
    assert services.repository_history_sync(repository_id=repo.pk).state == HistoryState.SYNCED
    assert Run.objects.filter(pipeline__repository=repo).count() == 30
    assert Job.objects.filter(run__pipeline__repository=repo).count() == 150
