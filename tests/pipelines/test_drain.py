"""Coalesced processing: receivers kick a drain instead of queueing a task per delivery."""

import json
import random
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from pipelines import providers, services, tasks
from pipelines.models import Branch, Delivery, DeliveryStatus, Job, Pipeline, Run
from tests.pipelines import payloads


def _run_events(run_id):
    common = {"run_id": run_id, "created_at": f"2026-11-20T10:{run_id % 60:02d}:00Z"}
    return [
        ("workflow_run", payloads.workflow_run(action="requested", status="queued", **common)),
        ("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress", **common)),
        ("workflow_job", payloads.workflow_job(run_id=run_id, job_id=run_id)),
        ("workflow_run", payloads.workflow_run(**common)),
    ]


@pytest.mark.django_db
def test_a_burst_of_deliveries_is_processed_by_one_drain(
    send_github, queued_drains, django_capture_on_commit_callbacks
):
    events = [event for run_id in range(1, 11) for event in _run_events(run_id)]
    random.Random(5).shuffle(events)
    with django_capture_on_commit_callbacks(execute=True):
        for event, payload in events:
            assert send_github(event, payload, process=False).status_code == 202
    # 40 deliveries, two drain tasks: one at once and one just after the kick window.
    assert queued_drains == [None, services.KICK_TAIL_SECONDS]
    assert services.KICK_TAIL_SECONDS > services.KICK_WINDOW_SECONDS
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 40

    assert tasks.drain_deliveries.run() == 40
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    assert Run.objects.count() == 10
    assert set(Run.objects.values_list("status", flat=True)) == {"success"}
    assert Job.objects.count() == 10
    pipeline = Pipeline.objects.get()
    latest = Run.objects.order_by("-created_at").first()
    assert (pipeline.last_run, pipeline.default_branch_run, pipeline.attention) == (latest, latest, 2)
    assert Branch.objects.get().last_run == latest
    assert tasks.drain_deliveries.run() == 0  # the tail drain finds nothing left


@pytest.mark.django_db
def test_a_delivery_arriving_just_after_a_drain_finished_is_not_stranded(
    send_github, queued_drains, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_github("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress"), process=False)
    assert queued_drains == [None, services.KICK_TAIL_SECONDS]
    services.deliveries_drain()  # the first drain: done and gone
    assert Run.objects.get().status == "running"

    # Within the kick window: no new task, the tail drain (due after the window) picks it up.
    with django_capture_on_commit_callbacks(execute=True):
        send_github("workflow_run", payloads.workflow_run(), process=False)
    assert queued_drains == [None, services.KICK_TAIL_SECONDS]
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
    services.deliveries_drain()  # the tail drain
    assert Run.objects.get().status == "success"
    assert not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()

    # Once the window is over, the next delivery kicks again.
    time.sleep(services.KICK_WINDOW_SECONDS + 0.1)
    with django_capture_on_commit_callbacks(execute=True):
        send_github("workflow_run", payloads.workflow_run(run_id=7), process=False)
    assert queued_drains == [None, services.KICK_TAIL_SECONDS] * 2


@pytest.mark.django_db
def test_a_failing_delivery_in_a_drain_is_kept_as_failed_and_the_others_are_processed(send_github, monkeypatch):
    original = services.deployment_upsert

    def boom(*, event):
        raise RuntimeError("deployment table on fire")

    monkeypatch.setattr(services, "deployment_upsert", boom)
    send_github("workflow_run", payloads.workflow_run(run_id=1), process=False)
    send_github("deployment_status", payloads.deployment_status(), process=False)
    send_github("workflow_run", payloads.workflow_run(run_id=2), process=False)
    assert services.deliveries_drain() == 3
    statuses = dict(Delivery.objects.values_list("event", "status").order_by("pk")[1:2])
    assert statuses == {"deployment_status": DeliveryStatus.FAILED}
    assert Delivery.objects.filter(status=DeliveryStatus.PROCESSED).count() == 2
    assert Run.objects.count() == 2
    monkeypatch.setattr(services, "deployment_upsert", original)


@pytest.mark.django_db
def test_a_drain_hands_over_to_a_fresh_task_when_its_time_is_up(send_github, queued_drains):
    for run_id in range(1, 8):
        send_github("workflow_run", payloads.workflow_run(run_id=run_id), process=False)
    assert services.deliveries_drain(batch_size=5, budget_seconds=0) == 5
    assert queued_drains == [None]
    assert services.deliveries_drain(batch_size=5) == 2
    assert Run.objects.count() == 7


@pytest.mark.django_db
def test_a_drain_leaves_what_another_drain_holds_and_takes_it_up_when_that_hold_lapses(send_github):
    for run_id in (1, 2, 3):
        send_github("workflow_run", payloads.workflow_run(run_id=run_id), process=False)
    held = services._claim(0, 2)  # another drain's batch, that drain since gone
    assert [d.pk for d in held] == list(Delivery.objects.order_by("pk").values_list("pk", flat=True)[:2])

    assert services.deliveries_drain() == 1  # only the third: the first two are held
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    assert Run.objects.count() == 1

    Delivery.objects.filter(pk__in=[d.pk for d in held]).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert services.deliveries_drain() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    assert not Delivery.objects.filter(claimed_until__isnull=False).exists()
    assert Run.objects.count() == 3


@pytest.mark.django_db
def test_a_delivery_arriving_as_a_drain_finishes_is_processed_by_that_drain(send_github, monkeypatch):
    # Its own drain would find the slot still held and end at once: the finishing drain looks again.
    send_github("workflow_run", payloads.workflow_run(run_id=1), process=False)
    claim, arrived = services._claim, []

    def claim_then_arrive(after_pk, limit):
        claimed = claim(after_pk, limit)
        if not claimed and not arrived:
            arrived.append(send_github("workflow_run", payloads.workflow_run(run_id=2), process=False))
        return claimed

    monkeypatch.setattr(services, "_claim", claim_then_arrive)
    assert services.deliveries_drain() == 2
    assert arrived and set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    assert Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_one_drain_applies_deliveries_at_a_time_unless_told_more(send_github, settings):
    if connection.vendor != "postgresql":
        pytest.skip("drain slots are PostgreSQL advisory locks")
    import psycopg

    for run_id in (1, 2):
        send_github("workflow_run", payloads.workflow_run(run_id=run_id), process=False)
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}, autocommit=True
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [services.DRAIN_LOCK_KEY])  # another drain, busy
        assert services.deliveries_drain() == 0  # turned away: the busy one takes these too
        assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2

        settings.PIPELINES_DRAIN_CONCURRENCY = 2
        assert services.deliveries_drain() == 2
    finally:
        other.close()
    assert Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_drains_running_at_once_apply_every_delivery_once(platform_admin):
    new = services.integration_create(actor=platform_admin, provider="github", name="GitHub drains", repositories=["*"])
    events = [event for run_id in range(1, 6) for event in _run_events(run_id)] * 2  # redeliveries too
    random.Random(11).shuffle(events)
    for event, payload in events:
        services.delivery_receive(
            integration=new.integration,
            delivery_id=str(uuid.uuid4()),
            event=event,
            headers={},
            body=json.dumps(payload),
            parsed=providers.parse("github", event, payload),
        )
    handled, errors = [], []

    def drain():
        try:
            handled.append(services.deliveries_drain(batch_size=7))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sum(handled) == len(events)  # each delivery handled by one drain: they take their own batches
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    assert Run.objects.count() == 5
    assert set(Run.objects.values_list("status", flat=True)) == {"success"}
    assert Job.objects.count() == 5
    pipeline = Pipeline.objects.get()
    latest = Run.objects.order_by("-created_at").first()
    assert (pipeline.last_run, pipeline.attention) == (latest, 2)
    assert Branch.objects.get().last_run == latest
