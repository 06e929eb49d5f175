"""Faults a platform team meets: the broker goes away, a worker is killed in the middle of an apply.

Each test runs real Celery workers (with beat, so nobody clicks anything) on a private
``redis-server`` that the test can stop, and real Terraform.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil

import pytest
from django.conf import settings
from django.urls import reverse

from provisioning import runs, services, terraform
from provisioning.models import EnvironmentRequest, RequestState, Run, RunKind, RunLogLine, RunStatus
from tests.provisioning.conftest import submit
from tests.worker import CeleryWorker, RedisServer, celery_broker, wait_for
from tests.worker import test_database_url as database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    try:
        with celery_broker(server.url):
            yield server
    finally:
        server.stop()


@pytest.fixture
def workers(redis, tmp_path, settings):
    """Start workers (with beat) on the private Redis; they share the test's database and work directory."""
    started: list[CeleryWorker] = []
    settings.PROVISIONING_DEAD_RUN_SECONDS = 6

    def start(name: str) -> CeleryWorker:
        env = os.environ.copy()
        env.update(
            {
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": redis.url,
                "PROVISIONING_WORK_DIR": str(settings.PROVISIONING_WORK_DIR),
                "PROVISIONING_STATE_BACKEND": settings.PROVISIONING_STATE_BACKEND,
                "PROVISIONING_HEARTBEAT_SECONDS": "1",
                "PROVISIONING_DEAD_RUN_SECONDS": "6",
                "PROVISIONING_REAP_SECONDS": "2",
                "PROVISIONING_RELAY_SECONDS": "2",
                "PROVISIONING_RELAY_AFTER_SECONDS": "2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        worker = CeleryWorker(env, concurrency=2, beat=True, log_path=tmp_path / f"{name}.log", purge=False)
        worker.start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def _trouble(worker: CeleryWorker) -> str:
    """The worker's log from its first error on (or its end), for a failing assertion's message."""
    text = worker.log_path.read_text()
    first = min((i for i in (text.find("CRITICAL"), text.find("ERROR")) if i >= 0), default=max(0, len(text) - 3000))
    return text[first : first + 4000]


def _request(pk: int, *states: str) -> EnvironmentRequest | None:
    return EnvironmentRequest.objects.filter(pk=pk, state__in=states).first()


def _log(run_id: int) -> str:
    return "\n".join(RunLogLine.objects.filter(run_id=run_id).order_by("number").values_list("text", flat=True))


def _awaiting_approval(worker, developer, templates, name: str) -> EnvironmentRequest:
    request = submit(developer, templates["strict"], name=name, size=2)
    ready = wait_for(lambda: _request(request.pk, RequestState.AWAITING_APPROVAL, RequestState.FAILED), timeout=120)
    assert ready is not None, worker.log_path.read_text()[-3000:]
    assert ready.state == RequestState.AWAITING_APPROVAL, ready.failure_reason
    return ready


def test_an_approval_made_while_the_broker_is_down_starts_the_apply_once_it_is_back_without_a_click(
    redis, workers, test_templates, developer, approver, platform_admin, client
):
    worker = workers("worker")
    request = _awaiting_approval(worker, developer, test_templates, "broker-down")
    services.request_approve(user=approver, request_id=request.pk)  # 1 of 2
    redis.stop()

    client.force_login(platform_admin)
    response = client.post(reverse("provisioning:request-approve", args=[request.pk]), follow=True)
    assert response.status_code == 200
    assert "starts by itself as soon as a worker is reachable" in response.content.decode()
    apply = Run.objects.get(request=request, kind=RunKind.APPLY)
    assert apply.status == RunStatus.QUEUED and apply.dispatched_at is None
    page = client.get(reverse("provisioning:request", args=[request.pk])).content.decode()
    assert "Waiting for the task queue" in page

    redis.start()
    current = [worker]

    def finished():
        if current[-1].process is None or current[-1].process.poll() is not None:
            # The Redis transport sometimes takes the worker down with the lost connection (a
            # kombu issue); in production its supervisor (compose's restart policy, Kubernetes)
            # starts it again, as this does.
            current.append(workers(f"restarted-{len(current)}"))
        return _request(request.pk, RequestState.ACTIVE, RequestState.FAILED)

    active = wait_for(finished, timeout=120, interval=0.5)
    assert active is not None, _trouble(current[-1])
    assert active.state == RequestState.ACTIVE, active.failure_reason
    apply.refresh_from_db()
    assert apply.status == RunStatus.SUCCEEDED and apply.dispatched_at is not None
    assert Run.objects.filter(request=request, kind=RunKind.APPLY).count() == 1


@contextlib.contextmanager
def holding_the_state_lock(request):
    """Hold the environment's Terraform state lock, so that its apply waits (``-lock-timeout``)."""
    if settings.PROVISIONING_STATE_BACKEND == "pg":
        import psycopg

        runs.prepare_pg_state(runs.state_schema(request))
        with psycopg.connect(database_url(), autocommit=True) as conn:
            (row_id,) = conn.execute(
                f'SELECT id FROM "{runs.state_schema(request)}".states WHERE name = %s',  # noqa: S608
                ["default"],
            ).fetchone()
            conn.execute("SELECT pg_advisory_lock(%s)", [row_id])
            yield
        return
    state = runs.working_dir(request) / "terraform.tfstate"
    empty = {"version": 4, "terraform_version": "1.0.0", "serial": 0, "lineage": "bridge-test", "outputs": {}}
    state.write_text(json.dumps({**empty, "resources": []}))
    info = runs.working_dir(request) / runs.LOCK_INFO
    with open(state, "r+") as handle:
        # What another Terraform holding the local backend's lock does: a lock on the state file
        # and a record of who holds it.
        fcntl.lockf(handle, fcntl.LOCK_EX)
        info.write_text(json.dumps({"ID": "held-by-the-test", "Operation": "OperationTypeApply", "Who": "test"}))
        try:
            yield
        finally:
            info.unlink()


def test_terraform_outlives_a_worker_killed_during_an_apply_and_its_outcome_is_recorded(
    redis, workers, test_templates, developer, approver, platform_admin
):
    first = workers("first")
    request = _awaiting_approval(first, developer, test_templates, "killed-mid-apply")
    with holding_the_state_lock(request):
        services.request_approve(user=approver, request_id=request.pk)
        services.request_approve(user=platform_admin, request_id=request.pk)
        apply = Run.objects.get(request=request, kind=RunKind.APPLY)
        # Terraform is applying (waiting for the state lock, as a slow apply would be working).
        assert wait_for(lambda: "Acquiring state lock" in _log(apply.pk), timeout=120), (
            Run.objects.filter(pk=apply.pk).values("status", "error", "dispatched_at", "worker").first(),
            _log(apply.pk),
            first.log_path.read_text()[-3000:],
        )
        apply.refresh_from_db()
        dead_worker = apply.worker
        first.kill()
        second = workers("second")
        taken_over = wait_for(
            lambda: Run.objects.filter(pk=apply.pk, status=RunStatus.RUNNING).exclude(worker=dead_worker).first(),
            timeout=120,
        )
        assert taken_over is not None, second.log_path.read_text()[-3000:]
        assert "stopped responding" in request.transitions.last().note
    # The lock is released: the same Terraform process, started by the dead worker, goes on.
    active = wait_for(lambda: _request(request.pk, RequestState.ACTIVE, RequestState.FAILED), timeout=120)
    assert active is not None, second.log_path.read_text()[-3000:]
    assert active.state == RequestState.ACTIVE, active.failure_reason
    assert active.outputs["half"]["value"] == 1
    apply.refresh_from_db()
    assert apply.status == RunStatus.SUCCEEDED
    log = _log(apply.pk)
    assert "takes the run over" in log and "Following `terraform apply" in log and "Apply complete!" in log
    assert log.count("$ terraform apply") == 1  # Terraform was not started a second time
    assert _state_outputs(active)["half"]["value"] == 1
    assert not (runs.working_dir(active) / terraform.VARS_FILE).exists()


def _state_outputs(request) -> dict:
    if settings.PROVISIONING_STATE_BACKEND == "pg":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT data FROM "{runs.state_schema(request)}".states WHERE name = %s',  # noqa: S608
                ["default"],
            )
            (data,) = cursor.fetchone()
        return json.loads(data)["outputs"]
    return json.loads((runs.working_dir(request) / "terraform.tfstate").read_text())["outputs"]
