"""Real Terraform on the shipped modules, executed in this process as the worker would."""

import json
import threading
import time

import pytest

from provisioning import runs, services, terraform
from provisioning.models import Approval, RequestState, Run, RunKind, RunLogLine, RunStatus
from tests.provisioning.conftest import run_queued, submit

pytestmark = pytest.mark.django_db(transaction=True)


def log_of(run) -> str:
    return "\n".join(RunLogLine.objects.filter(run=run).order_by("number").values_list("text", flat=True))


def test_an_auto_approved_preview_goes_from_submission_to_active(shipped_templates, developer, enqueued):
    request = submit(developer, shipped_templates["preview"], name="pr-42", app="checkout", branch="feature/x")
    assert request.state == RequestState.SUBMITTED
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.APPROVED  # auto-approved; the apply is queued
    assert request.plan_summary["outputs"][0]["name"] == "namespace"
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.ACTIVE
    # No cluster is registered: Bridge creates no namespace, and the module is told so.
    assert request.outputs["namespace"] == {"sensitive": False, "value": ""}
    assert request.outputs["url"]["value"] == "https://checkout-feature-x.preview.example.internal"
    assert request.expires_at is not None
    plan, apply = Run.objects.filter(request=request).order_by("created_at")
    assert "plan -input=false -no-color -var-file=bridge.tfvars.json -out=bridge.tfplan" in plan.command
    assert "Terraform has been successfully initialized!" in log_of(plan)
    assert "Apply complete!" in log_of(apply)
    assert [line.number for line in RunLogLine.objects.filter(run=apply)] == list(range(1, apply.line_count + 1))
    assert list(request.transitions.values_list("to_state", flat=True)) == [
        "submitted",
        "planning",
        "approved",
        "applying",
        "active",
    ]


def test_a_sensitive_output_is_masked_in_the_plan_the_outputs_and_the_logs(
    shipped_templates, developer, approver, platform_admin, enqueued
):
    request = submit(
        developer,
        shipped_templates["staging-stack"],
        name="stage-1",
        service="orders",
        tier="standard",
        replicas=2,
        db_storage_gb=20,
    )
    run_queued(request)
    assert request.state == RequestState.AWAITING_APPROVAL
    password = next(o for o in request.plan_summary["outputs"] if o["name"] == "database_password")
    assert password == {"name": "database_password", "actions": ["create"], "sensitive": True, "value": terraform.MASK}
    services.request_approve(user=approver, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == RequestState.AWAITING_APPROVAL  # two distinct approvers needed
    services.request_approve(user=platform_admin, request_id=request.pk)
    run_queued(request)
    assert request.state == RequestState.ACTIVE
    assert request.outputs["database_password"] == {"sensitive": True, "value": terraform.MASK}
    assert request.outputs["sizing"]["value"]["memory"] == "1024Mi"
    # The module derives the real value like this; it is in Terraform's state only.
    import hashlib
    import json

    secret = hashlib.sha256(f"stage-1/{request.pk}/orders_staging".encode()).hexdigest()[:24]
    state = runs.working_dir(request) / "terraform.tfstate"
    if state.exists():  # local backend (the pg backend keeps it in PostgreSQL)
        assert json.loads(state.read_text())["outputs"]["database_password"]["value"] == secret
    for run in request.runs.all():
        assert secret not in log_of(run)
    assert secret not in json.dumps(request.plan_summary) + json.dumps(request.outputs)
    assert not (runs.working_dir(request) / terraform.PLAN_FILE).exists()


def test_the_team_sandbox_plans_its_quota_from_the_size(shipped_templates, developer, approver, enqueued):
    request = submit(developer, shipped_templates["team-sandbox"], name="sandbox-a", size="medium", members=5)
    run_queued(request)
    quota = next(o for o in request.plan_summary["outputs"] if o["name"] == "quota")["value"]
    assert quota == {"cpu": "5", "memory": "10Gi", "storage": "50Gi", "pods": "50"}
    services.request_approve(user=approver, request_id=request.pk, comment="ok")
    run_queued(request)
    assert request.state == RequestState.ACTIVE


def test_terraform_failing_fails_the_request_with_the_relevant_lines_and_it_can_be_retried(
    test_templates, developer, enqueued
):
    request = submit(developer, test_templates["strict"], name="odd", size=3)
    assert run_queued(request) == ["failed"]
    assert request.state == RequestState.FAILED
    assert "exited with code 1" in request.failure_reason
    assert "The size must be even." in request.failure_reason
    run = request.runs.get()
    assert (run.status, run.exit_code) == (RunStatus.FAILED, 1)
    services.request_retry(user=developer, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == RequestState.SUBMITTED and request.failure_reason == ""
    assert request.runs.filter(status=RunStatus.QUEUED).count() == 1


def test_no_terraform_binary_fails_the_request_with_a_clear_error(test_templates, developer, enqueued, settings):
    settings.TERRAFORM_BIN = "/nonexistent/terraform"
    request = submit(developer, test_templates["strict"], name="nobin", size=2)
    assert run_queued(request) == ["failed"]
    assert "Terraform is not available" in request.failure_reason
    assert "TERRAFORM_BIN=/nonexistent/terraform" in request.failure_reason


def test_a_redelivered_run_message_does_nothing(test_templates, developer, enqueued):
    request = submit(developer, test_templates["strict"], name="twice", size=2)
    (run_id,) = enqueued
    assert runs.execute(run_id) == "succeeded"
    lines = RunLogLine.objects.filter(run_id=run_id).count()
    assert runs.execute(run_id).startswith("skipped")
    assert RunLogLine.objects.filter(run_id=run_id).count() == lines
    assert Run.objects.filter(request=request).count() == 1


def test_two_approvers_racing_produce_exactly_one_apply(
    test_templates, developer, approver, platform_admin, django_user_model, enqueued
):
    from django.contrib.auth.models import Group

    third = django_user_model.objects.create_user("appr2", email="a2@example.com")
    third.groups.add(Group.objects.get(name="Approvers"))
    request = submit(developer, test_templates["strict"], name="race", size=2)
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)  # 1 of 2
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            services.request_approve(user=user, request_id=request.pk)
            outcomes.append("approved")
        except services.ServiceError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (platform_admin, third)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["This request is already approved.", "approved"]
    assert Run.objects.filter(request=request, kind=RunKind.APPLY).count() == 1
    assert Approval.objects.filter(request=request).count() == 2


def test_canceling_a_running_plan_interrupts_terraform(test_templates, developer, enqueued, settings):
    # This module computes without pausing, so Terraform cannot stop at once: after the grace
    # period it is terminated. Either way the run ends canceled and nothing is left locked.
    settings.PROVISIONING_INTERRUPT_GRACE_SECONDS = 2
    request = submit(developer, test_templates["slow"], name="slowpoke", n=1000, k=4)
    (run_id,) = enqueued
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("outcome", runs.execute(run_id)))
    worker.start()
    deadline = time.monotonic() + 20
    while not Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, command__contains="plan").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.5)  # inside `terraform plan`
    started = time.monotonic()
    services.request_cancel(user=developer, request_id=request.pk)
    worker.join(timeout=40)
    assert not worker.is_alive()
    assert result["outcome"] == "canceled", Run.objects.get(pk=run_id).error + log_of(Run.objects.get(pk=run_id))
    assert time.monotonic() - started < 15
    request.refresh_from_db()
    run = Run.objects.get(pk=run_id)
    assert run.status == RunStatus.CANCELED
    assert request.state == RequestState.CANCELED
    assert "Cancel requested" in log_of(run)
    assert not (runs.working_dir(request) / ".terraform.tfstate.lock.info").exists()


def test_a_run_whose_worker_died_is_taken_over_on_its_host_and_finished(test_templates, developer, takeovers, enqueued):
    from datetime import timedelta

    from django.utils import timezone

    request = submit(developer, test_templates["strict"], name="orphan", size=2)
    (run_id,) = enqueued
    # The worker claimed the run and died before Terraform started.
    run = services.run_claim(run_id=run_id, worker=f"{runs.this_host()}:999999", host=runs.this_host())
    assert run is not None
    assert services.runs_reap_dead() == 0  # its heartbeat is fresh
    Run.objects.filter(pk=run_id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.runs_reap_dead() == 1
    assert takeovers == [run_id]
    assert "is asked to take the run over" in request.transitions.last().note
    assert services.runs_reap_dead() == 0  # asked once; the heartbeat was reset
    assert runs.supervise(run_id) == "succeeded"
    assert runs.supervise(run_id).startswith("skipped")  # a second takeover message does nothing
    request.refresh_from_db()
    assert request.state == RequestState.AWAITING_APPROVAL
    assert "takes the run over" in log_of(Run.objects.get(pk=run_id))


def test_a_run_no_worker_takes_over_fails_as_interrupted_and_can_be_retried(
    test_templates, developer, approver, platform_admin, takeovers, enqueued
):
    from datetime import timedelta

    from django.utils import timezone

    request = submit(developer, test_templates["strict"], name="orphan", size=2)
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)
    services.request_approve(user=platform_admin, request_id=request.pk)  # the template needs two
    apply_id = enqueued[-1]
    services.run_claim(run_id=apply_id, worker="gone@elsewhere:123", host="elsewhere")
    Run.objects.filter(pk=apply_id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.runs_reap_dead() == 1  # a worker on "elsewhere" is asked to take over...
    assert runs.supervise(apply_id).startswith("skipped")  # ...and this host is not "elsewhere"
    Run.objects.filter(pk=apply_id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.runs_reap_dead() == 1  # nobody did
    request.refresh_from_db()
    assert request.state == RequestState.FAILED
    assert request.failure_reason.startswith("No worker on elsewhere took the run over. Interrupted: state may be")
    assert "gone@elsewhere:123" in request.failure_reason and "What to do" in request.failure_reason
    services.request_retry(user=developer, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == RequestState.SUBMITTED


def test_an_apply_whose_terraform_was_killed_with_its_worker_says_the_state_may_be_incomplete(
    test_templates, developer, approver, platform_admin, takeovers, enqueued
):
    from datetime import timedelta

    from django.utils import timezone

    request = submit(developer, test_templates["strict"], name="killed", size=2)
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)
    services.request_approve(user=platform_admin, request_id=request.pk)  # the template needs two
    apply_id = enqueued[-1]
    run = services.run_claim(run_id=apply_id, worker=f"{runs.this_host()}:999999", host=runs.this_host())
    # Terraform had started (its launcher wrote its pid) and was killed before it recorded an exit code.
    step = runs.run_dir(run)
    step.mkdir(parents=True)
    (step / "01-apply.pid").write_text("999999")
    (step / "01-apply.out").write_text("Acquiring state lock. This may take a few moments...\n")
    Run.objects.filter(pk=apply_id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.runs_reap_dead() == 1
    assert runs.supervise(apply_id) == "failed"
    request.refresh_from_db()
    assert request.state == RequestState.FAILED
    assert request.failure_reason.startswith("Interrupted: state may be incomplete.")
    assert not step.exists() and not (runs.working_dir(request) / terraform.VARS_FILE).exists()


def _killed_mid_apply(request, host: str) -> Run:
    """The apply of ``request`` was claimed on ``host`` and its worker was killed after writing the secrets."""
    run = services.run_claim(run_id=request.runs.get(kind=RunKind.APPLY).pk, worker=f"{host}:999999", host=host)
    terraform.write_private(
        runs.working_dir(request) / terraform.VARS_FILE, json.dumps({"db_password": "hunter2-correct-horse"})
    )
    runs.run_dir(run).mkdir(parents=True)
    (runs.run_dir(run) / "01-apply.out").write_text("Acquiring state lock. This may take a few moments...\n")
    return run


def test_a_run_the_reaper_fails_on_this_host_leaves_no_secret_on_disk(test_templates, developer, takeovers, enqueued):
    from datetime import timedelta

    from django.utils import timezone

    request = submit(developer, test_templates["secret-input"], name="reaped", db_password="hunter2-correct-horse")
    assert run_queued(request) == ["succeeded"]  # plan, auto-approved: the apply is queued
    workdir = runs.working_dir(request)
    assert (workdir / terraform.PLAN_FILE).exists()
    run = _killed_mid_apply(request, runs.this_host())
    for _ in range(2):  # a worker on this host is asked to take over; none does
        Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
        assert services.runs_reap_dead() == 1
    request.refresh_from_db()
    assert request.state == RequestState.FAILED
    assert not (workdir / terraform.VARS_FILE).exists()
    assert not (workdir / terraform.PLAN_FILE).exists() and not runs.run_dir(run).exists()


def test_a_worker_starting_removes_the_secrets_of_runs_killed_with_their_worker_but_not_of_running_ones(
    test_templates, developer, takeovers, enqueued
):
    from provisioning import tasks

    killed = submit(developer, test_templates["secret-input"], name="killed", db_password="hunter2-correct-horse")
    run_queued(killed)
    run = _killed_mid_apply(killed, "elsewhere")
    # The reaper, on another host, failed the run; the message asking this host to clean up was lost.
    services.run_fail(run_id=run.pk, reason="Interrupted: state may be incomplete.")
    assert runs.remove_secrets_left_on_this_host(run.pk).startswith("skipped")  # not this host's run
    Run.objects.filter(pk=run.pk).update(host=runs.this_host())
    running = submit(developer, test_templates["secret-input"], name="running", db_password="hunter2-correct-horse")
    run_queued(running)
    _killed_mid_apply(running, runs.this_host())  # still running: its worker may be alive, or taken over
    tasks.remove_leftover_secrets_at_start(sender=None)
    assert not (runs.working_dir(killed) / terraform.VARS_FILE).exists()
    assert not (runs.working_dir(killed) / terraform.PLAN_FILE).exists()
    assert (runs.working_dir(running) / terraform.VARS_FILE).exists()
    assert (runs.working_dir(running) / terraform.PLAN_FILE).exists()


def test_the_soft_time_limit_stops_terraform_and_fails_the_run_with_a_clear_reason(
    test_templates, developer, enqueued, settings
):
    """Celery signals a soft time limit by raising SoftTimeLimitExceeded in the task's main thread
    from a signal handler; this does the same to a run executing in this (main) thread."""
    import os
    import signal

    from celery.exceptions import SoftTimeLimitExceeded

    settings.PROVISIONING_INTERRUPT_GRACE_SECONDS = 2
    request = submit(developer, test_templates["slow"], name="too-slow", n=1000, k=4)
    (run_id,) = enqueued

    def raise_soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, raise_soft_limit)
    timer = threading.Timer(4, os.kill, args=(os.getpid(), signal.SIGUSR1))
    timer.start()
    started = time.monotonic()
    try:
        outcome = runs.execute(run_id)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert outcome == "failed"
    assert time.monotonic() - started < 20
    request.refresh_from_db()
    assert request.state == RequestState.FAILED
    assert "longer than its time limit" in request.failure_reason
    assert Run.objects.get(pk=run_id).status == RunStatus.FAILED


@pytest.mark.skipif(
    not __import__("django.conf").conf.settings.DATABASE_IS_POSTGRES, reason="the pg backend needs PostgreSQL"
)
def test_on_postgresql_the_state_lives_in_a_schema_per_environment(shipped_templates, developer, enqueued):
    from django.db import connection

    request = submit(developer, shipped_templates["preview"], name="pg-state", app="checkout")
    run_queued(request)
    run_queued(request)
    assert request.state == RequestState.ACTIVE, request.failure_reason
    workdir = runs.working_dir(request)
    assert not (workdir / "terraform.tfstate").exists()
    assert oct((workdir / terraform.BACKEND_CONFIG).stat().st_mode & 0o777) == "0o600"
    schema = runs.state_schema(request)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT data FROM "{schema}".states WHERE name = %s', ["default"])  # noqa: S608
        (data,) = cursor.fetchone()
    # This environment's outputs (its URL is built from its app) are in its own schema's state.
    assert json.loads(data)["outputs"]["url"]["value"].startswith("https://checkout-"), data
    for run in request.runs.all():
        assert "conn_str" not in run.command and "postgres://" not in log_of(run)


@pytest.mark.skipif(
    not __import__("django.conf").conf.settings.DATABASE_IS_POSTGRES, reason="the pg backend needs PostgreSQL"
)
def test_on_postgresql_destroying_an_environment_drops_its_state_schema(shipped_templates, developer, enqueued):
    from django.db import connection

    def schema_exists(name: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
            return cursor.fetchone() is not None

    request = submit(developer, shipped_templates["preview"], name="pg-gone", app="checkout")
    run_queued(request)
    run_queued(request)
    assert request.state == RequestState.ACTIVE, request.failure_reason
    schema = runs.state_schema(request)
    assert schema_exists(schema)
    services.request_destroy(user=developer, request_id=request.pk, confirm="pg-gone")
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.DESTROYED, request.failure_reason
    assert not schema_exists(schema)
    assert not runs.working_dir(request).exists()


@pytest.mark.skipif(
    not __import__("django.conf").conf.settings.DATABASE_IS_POSTGRES, reason="the pg backend needs PostgreSQL"
)
def test_on_postgresql_two_new_environments_planned_and_applied_at_once_both_succeed(
    test_templates, developer, approver, enqueued
):
    from django.db import connection

    requests = [submit(developer, test_templates["slow"], name=f"burst-{i}", n=400, k=2) for i in range(2)]

    def at_once(run_ids):
        barrier = threading.Barrier(len(run_ids))
        outcomes = {}

        def execute(run_id):
            try:
                barrier.wait(timeout=10)
                outcomes[run_id] = runs.execute(run_id)
            finally:
                connection.close()

        threads = [threading.Thread(target=execute, args=(run_id,)) for run_id in run_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        return outcomes

    plans = list(Run.objects.filter(request__in=requests, kind=RunKind.PLAN).values_list("pk", flat=True))
    outcomes = at_once(plans)
    failures = {r.name: r.failure_reason for r in requests if (r.refresh_from_db() or r.state == RequestState.FAILED)}
    assert sorted(outcomes.values()) == ["succeeded", "succeeded"], failures
    for request in requests:
        services.request_approve(user=approver, request_id=request.pk)
    applies = list(Run.objects.filter(request__in=requests, kind=RunKind.APPLY).values_list("pk", flat=True))
    outcomes = at_once(applies)
    failures = {r.name: r.failure_reason for r in requests if (r.refresh_from_db() or r.state == RequestState.FAILED)}
    assert sorted(outcomes.values()) == ["succeeded", "succeeded"], failures
    for request in requests:
        request.refresh_from_db()
        assert request.state == RequestState.ACTIVE
        assert request.outputs["cells"]["value"] == 400 * 400 * 2


def test_a_secret_input_lives_only_in_a_private_variables_file_for_the_length_of_each_run(
    test_templates, developer, enqueued, monkeypatch
):
    import stat

    secret = "hunter2-correct-horse"
    seen = []
    launch = terraform.launch

    def watching_launch(argv, *, working_dir, files, capture=False):
        variables = working_dir / terraform.VARS_FILE
        seen.append(
            (
                argv[1],
                stat.S_IMODE(working_dir.stat().st_mode),
                stat.S_IMODE(variables.stat().st_mode) if variables.exists() else None,
            )
        )
        return launch(argv, working_dir=working_dir, files=files, capture=capture)

    monkeypatch.setattr(terraform, "launch", watching_launch)
    request = submit(developer, test_templates["secret-input"], name="secret-1", db_password=secret)
    assert run_queued(request) == ["succeeded"], request.failure_reason  # plan, auto-approved
    workdir = runs.working_dir(request)
    assert {(mode, variables) for _, mode, variables in seen} == {(0o700, 0o600)}
    assert not (workdir / terraform.VARS_FILE).exists()
    assert stat.S_IMODE((workdir / terraform.PLAN_FILE).stat().st_mode) == 0o600
    assert run_queued(request) == ["succeeded"]  # apply
    assert request.state == RequestState.ACTIVE, request.failure_reason
    assert request.outputs["password_length"]["value"] == len(secret)
    for run in request.runs.all():
        assert secret not in log_of(run) and secret not in run.command
    assert "password=(sensitive value)" in log_of(request.runs.get(kind=RunKind.PLAN))
    assert secret not in str(request.plan_summary) and secret not in str(request.outputs)
    left = [p.name for p in workdir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    # Only the module's own state keeps the output it chose to show; no variables file, plan or step output.
    assert left in ([], ["terraform.tfstate"])
    assert not (workdir / terraform.PLAN_FILE).exists() and not (workdir / runs.RUNS_DIR / "run-1").exists()


def test_a_failed_run_removes_its_variables_file(test_templates, developer, enqueued):
    request = submit(developer, test_templates["strict"], name="odd", size=3)
    assert run_queued(request) == ["failed"]
    workdir = runs.working_dir(request)
    assert not (workdir / terraform.VARS_FILE).exists()
    assert not (workdir / runs.RUNS_DIR).exists() or not any((workdir / runs.RUNS_DIR).iterdir())
