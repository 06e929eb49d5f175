"""Defects found with payloads nobody here wrote: octokit's GitHub examples, GitLab's documented hooks
and go-gitlab's recorded fixtures (tests/pipelines/fixtures/SOURCES.md names each file's origin)."""

import json
import uuid

import pytest

from catalog.models import Entity
from pipelines import secrets, selectors
from pipelines.models import Branch, Delivery, DeliveryStatus, Deployment, Pipeline, Repository, Run
from portal.models import Notification
from tests.pipelines.conftest import process_pending
from tests.pipelines.fixtures import load, names, raw

pytestmark = pytest.mark.django_db


def _post_github(client, new, event: str, body: bytes):
    return client.post(
        new.integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(new.secret, body),
    )


def _post_gitlab(client, new, event: str, body: bytes):
    return client.post(
        new.integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_X_GITLAB_EVENT=event,
        HTTP_X_GITLAB_TOKEN=new.secret,
    )


def _post_generic(client, new, event: str, body: bytes):
    return client.post(
        new.integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {new.secret}",
    )


# --- every real example is accepted ----------------------------------------------------


@pytest.mark.parametrize("name", names("octokit"))
def test_every_octokit_example_of_an_event_bridge_reads_is_accepted_and_processed(send_github, name):
    event = name.split("/")[1]
    response = send_github(event, load(name))
    assert response.status_code == 202, response.content
    assert Delivery.objects.get().status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED), Delivery.objects.get()


@pytest.mark.parametrize(
    "name, event",
    [
        ("gitlab-docs/pipeline.json", "Pipeline Hook"),
        ("gitlab-docs/job.json", "Job Hook"),
        ("gitlab-docs/deployment.json", "Deployment Hook"),
        ("go-gitlab/pipeline.json", "Pipeline Hook"),
        ("go-gitlab/job.json", "Job Hook"),
        ("go-gitlab/build.json", "Job Hook"),
        ("go-gitlab/deployment.json", "Deployment Hook"),
    ],
)
def test_every_gitlab_example_is_accepted_and_processed(send_gitlab, name, event):
    response = send_gitlab(event, load(name))
    assert response.status_code == 202, response.content
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED, Delivery.objects.get().error


# --- defect 4: a valid signature on a body Python cannot take is a 400, never a 500 ------------


DEEP = ("[" * 50_000 + "]" * 50_000).encode()


@pytest.mark.parametrize(
    "provider, post, event",
    [
        ("github", _post_github, "workflow_run"),
        ("gitlab", _post_gitlab, "Pipeline Hook"),
        ("generic", _post_generic, ""),
    ],
)
def test_json_nested_fifty_thousand_levels_deep_is_a_400_on_every_receiver(client, request, provider, post, event):
    new = request.getfixturevalue(provider)
    response = post(client, new, event, DEEP)
    assert response.status_code == 400
    assert "nested" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def _with_huge_attempt(text: str) -> bytes:
    return text.replace('"run_attempt": 1', '"run_attempt": 1e999', 1).encode()


def test_a_run_attempt_of_1e999_is_a_400_on_the_github_receiver(client, github):
    body = _with_huge_attempt(raw("octokit/workflow_run/completed.payload.json"))
    assert b"1e999" in body
    response = _post_github(client, github, "workflow_run", body)
    assert response.status_code == 400
    assert "run_attempt" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_a_number_too_large_for_a_float_is_a_400_on_the_gitlab_and_generic_receivers(client, gitlab, generic):
    pipeline = json.dumps(load("gitlab-docs/pipeline.json")).replace('"iid": 3', '"iid": 1e999', 1).encode()
    response = _post_gitlab(client, gitlab, "Pipeline Hook", pipeline)
    assert response.status_code == 400
    run = {
        "type": "run",
        "repository": "acme/batch",
        "pipeline": "nightly",
        "run_id": "1",
        "status": "success",
        "created_at": "2026-11-20T10:00:00Z",
    }
    body = json.dumps(run).replace('"run_id": "1"', '"run_id": "1", "attempt": 1e999').encode()
    assert _post_generic(client, generic, "", body).status_code == 400
    assert not Delivery.objects.exists()


# --- defect 5: one deployment id, two environments --------------------------------------------


def _deployment_row():
    deployment = Deployment.objects.get()
    return (
        deployment.environment,
        deployment.is_production,
        deployment.status,
        deployment.created_at.isoformat(),
        deployment.finished_at.isoformat() if deployment.finished_at else None,
    )


@pytest.mark.parametrize(
    "order",
    [
        ["gh-pages.payload.json", "payload.json"],
        ["payload.json", "gh-pages.payload.json"],
    ],
)
def test_a_deployment_whose_status_moves_it_to_another_environment_is_updated_whole(send_github, order):
    # octokit's gh-pages and payload examples share deployment id 145988746: github-pages in 2022, production in 2019.
    for name in order:
        assert send_github("deployment_status", load(f"octokit/deployment_status/{name}")).status_code == 202
    environment, is_production, status, created, finished = _deployment_row()
    assert (environment, is_production, status) == ("production", True, "success")
    assert finished >= created
    assert (created, finished) == ("2019-05-15T15:20:53+00:00", "2019-05-15T15:20:55+00:00")


def test_a_deployment_moved_out_of_production_no_longer_counts_as_production(send_github):
    payload = load("octokit/deployment_status/payload.json")
    send_github("deployment_status", payload)
    later = load("octokit/deployment_status/payload.json")
    later["deployment_status"].update(environment="staging", state="success", created_at="2019-05-15T15:30:00Z")
    send_github("deployment_status", later)
    deployment = Deployment.objects.get()
    assert (deployment.environment, deployment.is_production) == ("staging", False)


# --- defect 6: GitLab retries and durations -------------------------------------------------


def test_a_gitlab_pipeline_takes_its_duration_from_gitlab(send_gitlab):
    # GitLab's documented example: 63 s of running time, although the jobs span 15:24:56 to 15:26:29.
    send_gitlab("Pipeline Hook", load("gitlab-docs/pipeline.json"))
    run = Run.objects.get()
    assert run.duration_seconds == 63
    assert Run.objects.get().status == "success"


def test_go_gitlabs_pipeline_fixture_takes_its_duration_from_gitlab_too(send_gitlab):
    send_gitlab("Pipeline Hook", load("go-gitlab/pipeline.json"))
    assert Run.objects.get().duration_seconds == 63


def _retry_sequence():
    """running → failed → running (one job retried) → success, built on GitLab's documented example."""
    base = load("gitlab-docs/pipeline.json")

    def state(status, finished_at, duration, builds):
        payload = json.loads(json.dumps(base))
        payload["object_attributes"].update(status=status, finished_at=finished_at, duration=duration)
        payload["builds"] = builds
        return payload

    build = base["builds"][3]  # build-image, 15:24:56 to 15:25:26

    def job(job_id, status, started, finished):
        return {**build, "id": job_id, "status": status, "started_at": started, "finished_at": finished}

    return [
        state("running", None, None, [job(376, "running", "2016-08-12 15:24:56 UTC", None)]),
        state(
            "failed",
            "2016-08-12 15:25:26 UTC",
            30,
            [job(376, "failed", "2016-08-12 15:24:56 UTC", "2016-08-12 15:25:26 UTC")],
        ),
        state(
            "running",
            None,
            None,
            [
                job(376, "failed", "2016-08-12 15:24:56 UTC", "2016-08-12 15:25:26 UTC"),
                job(381, "running", "2016-08-12 15:40:00 UTC", None),
            ],
        ),
        state(
            "success",
            "2016-08-12 15:40:33 UTC",
            63,
            [
                job(376, "failed", "2016-08-12 15:24:56 UTC", "2016-08-12 15:25:26 UTC"),
                job(381, "success", "2016-08-12 15:40:00 UTC", "2016-08-12 15:40:33 UTC"),
            ],
        ),
    ]


def test_a_retried_gitlab_pipeline_is_running_again_and_ends_with_gitlabs_duration(send_gitlab):
    running, failed, retried, success = _retry_sequence()
    send_gitlab("Pipeline Hook", running)
    send_gitlab("Pipeline Hook", failed)
    assert Run.objects.get().status == "failed"
    send_gitlab("Pipeline Hook", retried)
    run = Run.objects.get()
    assert run.status == "running"
    assert (run.finished_at, run.duration_seconds) == (None, None)
    send_gitlab("Pipeline Hook", success)
    run = Run.objects.get()
    assert (run.status, run.duration_seconds) == ("success", 63)


def test_a_late_delivery_from_before_the_failure_does_not_restart_a_gitlab_pipeline(send_gitlab):
    running, failed, retried, success = _retry_sequence()
    send_gitlab("Pipeline Hook", failed)
    send_gitlab("Pipeline Hook", running)  # the first "running", delivered late
    assert Run.objects.get().status == "failed"
    send_gitlab("Pipeline Hook", success)
    send_gitlab("Pipeline Hook", retried)  # the retry's "running", delivered after its "success"
    run = Run.objects.get()
    assert (run.status, run.duration_seconds) == ("success", 63)


# --- defect 7: action_required is waiting, not failed ---------------------------------------


def test_a_run_waiting_for_approval_is_waiting_not_failed(send_github, platform_admin):
    Entity.objects.create(
        kind="Component",
        name="octo",
        annotations={"github.com/project-slug": "octo-org/octo-repo"},
        spec={"owner": "group:default/octo-team"},
    )
    response = send_github("workflow_run", load("octokit/workflow_run/requested.with-conclusion.payload.json"))
    assert response.status_code == 202
    run = Run.objects.get()
    assert (run.status, run.conclusion) == ("waiting", "action_required")
    assert run.branch == Repository.objects.get().default_branch == "master"
    assert Pipeline.objects.get().attention != 0  # not listed as a failing default branch
    stats = selectors.run_stats(Repository.objects.all(), days=36500)
    assert (stats.finished, stats.success_rate) == (0, None)
    assert not Notification.objects.exists()


def test_a_run_approved_after_waiting_goes_on_to_succeed(send_github):
    send_github("workflow_run", load("octokit/workflow_run/requested.with-conclusion.payload.json"))
    send_github("workflow_run", load("octokit/workflow_run/completed.payload.json"))
    assert Run.objects.get().status == "success"


# --- defects 8 and 9: what a branch name may hold ---------------------------------------------


def test_a_nul_character_in_a_branch_name_is_refused_at_the_door(send_github):
    payload = load("octokit/workflow_run/completed.payload.json")
    payload["workflow_run"]["head_branch"] = "feature\u0000x"
    response = send_github("workflow_run", payload)
    assert response.status_code == 400
    assert "workflow_run.head_branch" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_a_branch_name_of_300_characters_is_kept_whole(send_github):
    branch = "feature/" + "x" * 292
    payload = load("octokit/workflow_run/completed.payload.json")
    payload["workflow_run"]["head_branch"] = branch
    job = load("octokit/workflow_job/completed.success.with-organization.payload.json")
    job["workflow_job"]["head_branch"] = branch
    assert send_github("workflow_run", payload).status_code == 202
    assert send_github("workflow_job", job).status_code == 202
    assert [run.branch for run in Run.objects.all()] == [branch, branch]
    assert set(Branch.objects.values_list("name", flat=True)) == {branch}


def test_a_branch_name_longer_than_bridge_keeps_is_refused_with_a_message_that_says_so(send_github):
    payload = load("octokit/workflow_run/completed.payload.json")
    payload["workflow_run"]["head_branch"] = "b" * 1100
    response = send_github("workflow_run", payload)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "workflow_run.head_branch" in message and "1,024" in message
    assert not Delivery.objects.exists()


def test_a_long_ref_on_a_gitlab_deployment_is_kept_whole(send_gitlab):
    payload = load("gitlab-docs/deployment.json")
    payload["ref"] = "release/" + "r" * 400
    assert send_gitlab("Deployment Hook", payload).status_code == 202
    assert Deployment.objects.get().ref == payload["ref"]


def test_a_long_job_name_is_shortened_visibly_not_cut(send_github):
    job = load("octokit/workflow_job/completed.success.with-organization.payload.json")
    job["workflow_job"]["name"] = "matrix " + "n" * 400
    assert send_github("workflow_job", job).status_code == 202
    process_pending()
    from pipelines.models import Job

    name = Job.objects.get().name
    assert len(name) <= 255 and name.endswith("…")
