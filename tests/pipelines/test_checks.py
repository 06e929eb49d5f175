"""Any CI that reports to GitHub (Jenkins, CircleCI, Buildkite, …): check suites, check runs and commit
statuses become pipelines named by their app or context. Payloads: octokit's examples (fixtures/SOURCES.md)."""

import pytest

from pipelines.models import Delivery, DeliveryStatus, Job, Pipeline, Run
from tests.pipelines.fixtures import load

pytestmark = pytest.mark.django_db


def test_a_check_suite_is_a_run_of_the_pipeline_named_by_its_app(send_github):
    assert send_github("check_suite", load("octokit/check_suite/completed.payload.json")).status_code == 202
    run = Run.objects.select_related("pipeline__repository").get()
    assert run.pipeline.name == "octocoders-linter"
    assert run.pipeline.repository.slug == "Codertocat/Hello-World"
    assert (run.provider_id, run.status, run.branch) == ("118578147", "success", "changes")
    assert run.commit_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert run.title == "Update README.md"
    assert run.url == "https://github.com/Codertocat/Hello-World/commit/ec26c3e57ca3a959ca5aad62de7213c562f8c821/checks"
    assert run.duration_seconds == 43  # created 15:20:31, completed 15:21:14


def test_check_runs_are_the_jobs_of_their_suite_and_move_it_along(send_github):
    send_github("check_run", load("octokit/check_run/created.payload.json"))
    run = Run.objects.get()
    job = Job.objects.get()
    assert (run.pipeline.name, run.provider_id) == ("octocoders-linter", "118578147")
    assert (job.name, job.status) == ("Octocoders-linter", "queued")
    send_github("check_run", load("octokit/check_run/completed.payload.json"))
    job.refresh_from_db()
    assert job.status == "success"
    assert job.url == "https://octocoders.io"  # the CI's own page (details_url)
    send_github("check_suite", load("octokit/check_suite/completed.payload.json"))
    assert Run.objects.count() == 1 and Run.objects.get().status == "success"


def test_a_failed_check_run_fails_its_job(send_github):
    payload = load("octokit/check_run/completed.payload.json")
    payload["check_run"]["conclusion"] = "failure"
    send_github("check_run", payload)
    assert Job.objects.get().status == "failed"


def test_a_check_run_of_github_actions_is_left_to_workflow_job(send_github):
    # octokit's completed.1 example comes from the github-actions app
    send_github("check_run", load("octokit/check_run/completed.1.payload.json"))
    assert Delivery.objects.get().status == DeliveryStatus.IGNORED
    assert not Job.objects.exists()


def test_a_commit_status_is_a_run_of_the_pipeline_named_by_its_context(send_github):
    payload = load("octokit/status/payload.json")
    payload.update(context="ci/jenkins", target_url="https://jenkins.example.com/job/hello/42/")
    payload["state"] = "pending"
    send_github("status", payload)
    run = Run.objects.get()
    assert (run.pipeline.name, run.status, run.commit_sha) == (
        "ci/jenkins",
        "running",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    )
    assert run.url == "https://jenkins.example.com/job/hello/42/"
    assert run.title == "Initial commit"
    finished = load("octokit/status/payload.json")
    finished.update(context="ci/jenkins", state="failure", updated_at="2019-05-15T15:25:55+00:00")
    send_github("status", finished)
    run = Run.objects.get()
    assert (run.status, run.duration_seconds) == ("failed", 300)


def test_a_status_reported_again_after_a_failure_is_a_rebuild_of_the_same_run(send_github):
    failed = load("octokit/status/payload.json")
    failed.update(context="ci/jenkins", state="failure")
    send_github("status", failed)
    rebuild = load("octokit/status/payload.json")
    rebuild.update(
        context="ci/jenkins", state="pending", created_at="2019-05-15T16:00:00+00:00", updated_at="2019-05-15T16:00:00Z"
    )
    send_github("status", rebuild)
    assert Run.objects.get().status == "running"
    failed_late = load("octokit/status/payload.json")
    failed_late.update(context="ci/jenkins", state="failure")
    send_github("status", failed_late)  # the first failure, delivered again late
    assert Run.objects.get().status == "running"


def test_statuses_of_two_contexts_are_two_pipelines(send_github):
    for context in ("ci/jenkins", "buildkite/hello"):
        payload = load("octokit/status/payload.json")
        payload["context"] = context
        send_github("status", payload)
    assert sorted(Pipeline.objects.values_list("name", flat=True)) == ["buildkite/hello", "ci/jenkins"]


def test_github_actions_own_checks_are_not_counted_twice(send_github):
    payload = load("octokit/check_suite/completed.payload.json")
    payload["check_suite"]["app"].update(slug="github-actions", name="GitHub Actions")
    send_github("check_suite", payload)
    assert Delivery.objects.get().status == DeliveryStatus.IGNORED
    assert not Run.objects.exists()


def test_a_rerequested_check_suite_runs_again(send_github):
    send_github("check_suite", load("octokit/check_suite/completed.payload.json"))
    again = load("octokit/check_suite/completed.payload.json")
    again["action"] = "rerequested"
    again["check_suite"].update(status="queued", conclusion=None, updated_at="2019-05-15T16:00:00Z")
    send_github("check_suite", again)
    run = Run.objects.get()
    assert (run.status, run.finished_at, run.duration_seconds) == ("queued", None, None)
