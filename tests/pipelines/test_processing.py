"""Processing deliveries: idempotent upserts, out-of-order events, jobs, deployments, entity mapping."""

import pytest

from catalog.models import Entity
from pipelines import services
from pipelines.models import Branch, Commit, Delivery, DeliveryStatus, Deployment, Job, Pipeline, Repository, Run
from tests.pipelines import payloads
from tests.pipelines.conftest import process_pending

pytestmark = pytest.mark.django_db


def test_the_same_delivery_twice_is_stored_once_and_makes_one_run(send_github):
    first = send_github("workflow_run", payloads.workflow_run(), delivery="same")
    second = send_github("workflow_run", payloads.workflow_run(), delivery="same")
    assert first.status_code == second.status_code == 202
    assert second.json()["duplicate"] is True
    assert Delivery.objects.count() == 1
    assert Delivery.objects.get().attempts == 2
    assert Run.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_twice_outside_any_transaction_is_stored_once(send_github):
    # As under gunicorn: the receiver's INSERT commits by itself, and the duplicate's error aborts nothing.
    first = send_github("workflow_run", payloads.workflow_run(), delivery="same", process=False)
    second = send_github("workflow_run", payloads.workflow_run(), delivery="same", process=False)
    assert (first.status_code, second.status_code) == (202, 202)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert list(Delivery.objects.values_list("attempts", "status")) == [(2, DeliveryStatus.PENDING)]
    assert services.deliveries_drain() == 1
    assert Run.objects.count() == 1


def test_a_redelivery_under_a_new_id_leaves_one_run(send_github):
    send_github("workflow_run", payloads.workflow_run())
    send_github("workflow_run", payloads.workflow_run())
    assert Delivery.objects.count() == 2
    assert Run.objects.count() == 1


def test_completed_before_in_progress_leaves_the_run_completed(send_github):
    send_github("workflow_run", payloads.workflow_run(conclusion="failure"))
    send_github("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress"))
    send_github("workflow_run", payloads.workflow_run(action="requested", status="queued"))
    run = Run.objects.get()
    assert run.status == "failed"
    assert run.conclusion == "failure"
    assert run.finished_at is not None and run.duration_seconds == 390


def test_a_run_moves_forward_through_its_events(send_github):
    send_github("workflow_run", payloads.workflow_run(action="requested", status="queued"))
    assert Run.objects.get().status == "queued"
    send_github("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress"))
    assert Run.objects.get().status == "running"
    send_github("workflow_run", payloads.workflow_run())
    assert Run.objects.get().status == "success"


def test_a_rerun_is_a_second_attempt_of_the_same_run(send_github):
    send_github("workflow_run", payloads.workflow_run(conclusion="failure"))
    send_github("workflow_run", payloads.workflow_run(attempt=2))
    assert sorted(Run.objects.values_list("attempt", "status")) == [(1, "failed"), (2, "success")]


def test_a_job_that_arrives_before_its_run_creates_the_run_which_the_run_event_completes(send_github):
    send_github("workflow_job", payloads.workflow_job(action="in_progress", status="in_progress"))
    run = Run.objects.get()
    assert run.status == "running"
    send_github("workflow_job", payloads.workflow_job())
    send_github("workflow_job", payloads.workflow_job(action="in_progress", status="in_progress"))
    send_github("workflow_run", payloads.workflow_run())
    run = Run.objects.get()
    assert (run.status, run.number) == ("success", 562)
    job = Job.objects.get()
    assert (job.status, job.name, job.duration_seconds) == ("success", "test (3.12)", 300)
    assert [step["name"] for step in job.steps] == ["Set up job", "Run pytest"]
    assert job.steps[1]["status"] == "success"


def test_the_default_branch_summary_puts_a_failing_pipeline_first(send_github):
    send_github("workflow_run", payloads.workflow_run(conclusion="failure"))
    pipeline = Pipeline.objects.get()
    assert pipeline.attention == 0
    assert pipeline.default_branch_run.status == "failed"
    assert Branch.objects.get().last_run == Run.objects.get()
    send_github("workflow_run", payloads.workflow_run(run_id=30433643, created_at="2026-11-20T12:00:00Z"))
    pipeline.refresh_from_db()
    assert pipeline.attention == 2
    assert Branch.objects.get().last_run.provider_id == "30433643"


def test_an_older_run_arriving_late_does_not_replace_the_branchs_latest(send_github):
    send_github("workflow_run", payloads.workflow_run(run_id=2, created_at="2026-11-20T12:00:00Z"))
    send_github("workflow_run", payloads.workflow_run(run_id=1, conclusion="failure"))
    assert Branch.objects.get().last_run.provider_id == "2"
    assert Pipeline.objects.get().attention == 2


def test_gitlab_pipeline_job_and_deployment_hooks(send_gitlab):
    assert send_gitlab("Pipeline Hook", payloads.gitlab_pipeline(status="running")).status_code == 202
    assert send_gitlab("Job Hook", payloads.gitlab_job(status="success")).status_code == 202
    assert send_gitlab("Pipeline Hook", payloads.gitlab_pipeline(status="success")).status_code == 202
    assert send_gitlab("Pipeline Hook", payloads.gitlab_pipeline(status="running")).status_code == 202
    run = Run.objects.get()
    # GitLab's own duration (480 s), not the span of its jobs' times (475 s)
    assert (run.status, run.number, run.branch, run.duration_seconds) == ("success", 12, "main", 480)
    assert run.pipeline.repository.slug == "shop/checkout"
    assert sorted(Job.objects.values_list("name", "status")) == [("build-image", "success"), ("rspec", "success")]
    assert send_gitlab("Deployment Hook", payloads.gitlab_deployment(status="running")).status_code == 202
    assert send_gitlab("Deployment Hook", payloads.gitlab_deployment(status="success")).status_code == 202
    deployment = Deployment.objects.get()
    assert (deployment.status, deployment.is_production) == ("success", True)
    assert deployment.commit_sha == "bcbb5ec396a2c0f828686f14fac9b80b780504f2"
    assert deployment.commit_at is not None  # from the pipeline's commit timestamp
    assert Delivery.objects.filter(status=DeliveryStatus.PROCESSED).count() == 6


def test_a_gitlab_hook_of_another_kind_is_ignored(send_gitlab):
    response = send_gitlab("Note Hook", {"object_kind": "note"})
    assert response.status_code == 202
    assert Delivery.objects.get().status == DeliveryStatus.IGNORED


def test_a_github_deployment_never_goes_back_from_success(send_github):
    send_github("deployment_status", payloads.deployment_status(state="success"))
    send_github("deployment_status", payloads.deployment_status(state="in_progress", at="2026-11-20T10:55:00Z"))
    send_github("deployment_status", payloads.deployment_status(state="inactive", at="2026-11-21T10:00:00Z"))
    deployment = Deployment.objects.get()
    assert deployment.status == "success"
    assert deployment.finished_at.isoformat() == "2026-11-20T11:00:00+00:00"


def test_a_push_records_commit_times_and_fills_in_earlier_deployments(send_github):
    send_github("deployment_status", payloads.deployment_status(state="success"))
    assert Deployment.objects.get().commit_at is None
    send_github("push", payloads.push())
    assert Commit.objects.get().committed_at.isoformat() == "2026-11-20T08:30:00+00:00"
    assert Deployment.objects.get().commit_at.isoformat() == "2026-11-20T08:30:00+00:00"


def test_runs_map_to_the_entity_with_the_matching_annotation(send_github, send_gitlab):
    payments = Entity.objects.create(
        kind="Component", name="payments", annotations={"github.com/project-slug": "Acme/Payments"}
    )
    checkout = Entity.objects.create(
        kind="Component", name="checkout", annotations={"gitlab.com/project-slug": "shop/checkout"}
    )
    send_github("workflow_run", payloads.workflow_run())
    send_gitlab("Pipeline Hook", payloads.gitlab_pipeline())
    assert Repository.objects.get(slug="acme/payments").entity == payments
    assert Repository.objects.get(slug="shop/checkout").entity == checkout


def test_an_unmatched_repository_is_matched_once_the_catalog_has_the_annotation(send_github):
    send_github("workflow_run", payloads.workflow_run())
    repo = Repository.objects.get()
    assert repo.entity is None
    entity = Entity.objects.create(
        kind="Component", name="payments", annotations={"github.com/project-slug": "acme/payments"}
    )
    assert services.repositories_rematch() == 1
    repo.refresh_from_db()
    assert repo.entity == entity


def test_a_generic_run_with_jobs_and_steps(send_generic):
    payload = {
        "type": "run",
        "delivery_id": "jenkins-77",
        "repository": "acme/batch",
        "default_branch": "main",
        "pipeline": "nightly",
        "run_id": "77",
        "number": 77,
        "branch": "main",
        "commit": "1234abcd",
        "status": "failed",
        "created_at": "2026-11-20T02:00:00Z",
        "started_at": "2026-11-20T02:00:00Z",
        "finished_at": "2026-11-20T02:10:00Z",
        "jobs": [
            {"id": "build", "name": "Build", "status": "success", "steps": [{"name": "mvn", "status": "success"}]},
            {"id": "test", "name": "Test", "status": "failed"},
        ],
    }
    assert send_generic(payload).status_code == 202
    assert send_generic(payload).json()["duplicate"] is True
    run = Run.objects.get()
    assert (run.status, run.duration_seconds, run.pipeline.name) == ("failed", 600, "nightly")
    assert run.jobs.count() == 2
    assert Pipeline.objects.get().attention == 0


def test_a_failed_delivery_is_processed_again_when_it_is_redelivered(send_github, monkeypatch):
    original = services.run_upsert

    def boom(*, event, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "run_upsert", boom)
    send_github("workflow_run", payloads.workflow_run(), delivery="retry-me")
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "database went away" in delivery.error
    monkeypatch.setattr(services, "run_upsert", original)
    send_github("workflow_run", payloads.workflow_run(), delivery="retry-me", process=False)
    process_pending()
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED
    assert Run.objects.count() == 1


def test_a_broker_outage_still_answers_202_and_the_sweeper_drains_the_delivery_later(
    send_github, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.drain_deliveries, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = send_github("workflow_run", payloads.workflow_run(), process=False)
    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING

    queued = []
    monkeypatch.setattr(tasks.drain_deliveries, "apply_async", lambda *a, countdown=None, **k: queued.append(countdown))
    assert services.deliveries_requeue_stale() == 0  # too recent: a drain may still be on its way
    assert queued == []
    Delivery.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    assert services.deliveries_requeue_stale() == 1
    assert queued == [None]  # one drain, at once
    assert tasks.drain_deliveries.run() == 1
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED
    assert Run.objects.get().status == "success"


def test_old_settled_deliveries_are_pruned_but_runs_stay(send_github):
    from datetime import timedelta

    from django.utils import timezone

    send_github("workflow_run", payloads.workflow_run())
    send_github("issues", {"action": "opened"})
    Delivery.objects.update(received_at=timezone.now() - timedelta(days=40))
    assert services.deliveries_prune(older_than_days=30) == 2
    assert not Delivery.objects.exists()
    assert Run.objects.count() == 1
