"""Executing one run: Terraform commands in the request's working directory.

Called by the Celery task with a run id. State changes go through
``services``; this module only drives Terraform and streams its log.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.timezone import now as django_now

from provisioning import services, terraform
from provisioning.models import Run, RunKind

logger = logging.getLogger(__name__)


def working_dir(request) -> Path:
    """The request's own directory: module, variables, saved plan and local state.

    The creation time is part of the name so that a database reset (tests, a new
    install) never reuses another request's state.
    """
    return settings.PROVISIONING_WORK_DIR / "requests" / f"{request.pk}-{request.created_at:%Y%m%d%H%M%S%f}"


class LogWriter:
    """Buffers lines and stores them every few tenths of a second, numbered in order."""

    def __init__(self, run_id: int, start_after: int = 0, interval: float = 0.25):
        self.run_id = run_id
        self.next_number = start_after + 1
        self.interval = interval
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def line(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)
        if time.monotonic() - self._last_flush >= self.interval:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                self.next_number = (
                    services.log_append(run_id=self.run_id, first_number=self.next_number, lines=pending) + 1
                )
            self._last_flush = time.monotonic()


class Heartbeat(threading.Thread):
    """Writes the heartbeat, flushes the log, and interrupts Terraform when a cancel is requested."""

    def __init__(self, run_id: int, writer: LogWriter, controller: terraform.Controller):
        super().__init__(daemon=True, name=f"run-{run_id}-heartbeat")
        self.run_id = run_id
        self.writer = writer
        self.controller = controller
        self.stopped = threading.Event()
        self.cancel_seen = False

    def run(self) -> None:
        interval = max(0.2, min(settings.PROVISIONING_HEARTBEAT_SECONDS, 1.0))
        beat_every = settings.PROVISIONING_HEARTBEAT_SECONDS
        last_beat = 0.0
        try:
            while not self.stopped.wait(interval):
                self.writer.flush()
                if time.monotonic() - last_beat >= beat_every or not self.cancel_seen:
                    cancel = services.run_heartbeat(run_id=self.run_id)
                    last_beat = time.monotonic()
                    if cancel and not self.cancel_seen:
                        self.cancel_seen = True
                        self.writer.line("Cancel requested: sending Terraform an interrupt.")
                        self.controller.interrupt()
        except Exception:
            logger.exception("heartbeat of run %s stopped", self.run_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def _tail(writer: LogWriter, run_id: int, lines: int = 15) -> str:
    """The last log lines, for the failure reason shown on the request."""
    from provisioning.models import RunLogLine

    writer.flush()
    texts = list(
        RunLogLine.objects.filter(run_id=run_id).order_by("-number").values_list("text", flat=True)[: lines * 3]
    )
    relevant = [t for t in reversed(texts) if t.strip()][-lines:]
    return "\n".join(relevant)


def execute(run_id: int) -> str:
    """Claim and execute a run; returns what happened (for the task's log)."""
    close_old_connections()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    run = services.run_claim(run_id=run_id, worker=worker, pid=os.getpid())
    if run is None:
        return "skipped: not queued (already claimed, finished or canceled)"
    run = Run.objects.select_related(
        "request__template_version", "request__template", "request__team", "request__cluster"
    ).get(pk=run_id)
    writer = LogWriter(run_id, start_after=run.line_count)
    controller = terraform.Controller(grace=settings.PROVISIONING_INTERRUPT_GRACE_SECONDS)
    heartbeat = Heartbeat(run_id, writer, controller)
    heartbeat.start()
    try:
        if run.kind == RunKind.PLAN:
            _plan(run, writer, controller)
        elif run.kind == RunKind.DESTROY:
            _destroy(run, writer, controller)
        else:
            _apply(run, writer, controller)
        return "succeeded"
    except terraform.Interrupted as exc:
        writer.line(str(exc))
        writer.flush()
        if heartbeat.cancel_seen:
            services.run_fail(
                run_id=run_id, reason=f"Canceled during the {run.kind}.", exit_code=exc.exit_code, canceled=True
            )
            return "canceled"
        services.run_fail(run_id=run_id, reason=str(exc), exit_code=exc.exit_code)
        return "failed"
    except terraform.TerraformError as exc:
        reason = str(exc)
        tail = _tail(writer, run_id)
        services.run_fail(run_id=run_id, reason=f"{reason}\n{tail}".strip(), exit_code=exc.exit_code)
        return "failed"
    except SoftTimeLimitExceeded:
        writer.line("The run reached its time limit; Terraform was interrupted.")
        writer.flush()
        services.run_fail(
            run_id=run_id,
            reason="The run took longer than its time limit; Terraform was interrupted and stopped. Retry it, "
            "or ask a Platform Admin to raise RUN_TIME_LIMIT_SECONDS.",
        )
        return "failed"
    except services.ServiceError as exc:
        # A rule of the portal stops the run (secrets unreadable, cluster no longer offered): say which.
        writer.line(f"Stopped: {exc}")
        writer.flush()
        services.run_fail(run_id=run_id, reason=str(exc))
        return "failed"
    except Exception as exc:
        logger.exception("run %s failed unexpectedly", run_id)
        writer.flush()
        services.run_fail(run_id=run_id, reason=f"Bridge could not run Terraform: {exc.__class__.__name__}: {exc}")
        return "failed"
    finally:
        heartbeat.stop()
        writer.flush()


def state_schema(request) -> str:
    """The PostgreSQL schema holding this environment's Terraform state (pg backend)."""
    return f"bridge_env_{request.pk}_{request.created_at:%Y%m%d%H%M%S}"


def _backend_options(request, workdir: Path) -> dict:
    backend = settings.PROVISIONING_STATE_BACKEND
    if backend == "pg" and not settings.DATABASE_IS_POSTGRES:
        raise terraform.TerraformError("PROVISIONING_STATE_BACKEND=pg needs the portal to run on PostgreSQL.")
    if backend == "pg":
        prepare_pg_state(state_schema(request))
    files = terraform.configure_backend(
        workdir,
        backend=backend,
        conn_str=terraform.pg_conn_str(settings.DATABASES["default"]) if backend == "pg" else "",
        schema=state_schema(request),
    )
    # -reconfigure: a working directory never migrates state from an older backend setting.
    return {"reconfigure": terraform.FLAG, **({"backend_config": files[0]} if files else {})}


def _lock_wait() -> dict:
    """Wait for a state lock instead of failing at once (``-lock-timeout``, in Terraform and OpenTofu alike)."""
    return {"lock_timeout": f"{settings.PROVISIONING_LOCK_TIMEOUT_SECONDS}s"}


# Serializes Bridge's own creation of state schemas (a PostgreSQL advisory lock key of ours).
_STATE_DDL_LOCK = 0x42524447


def prepare_pg_state(schema: str) -> None:
    """Create the environment's state schema, table and an empty "default" workspace before Terraform runs.

    Terraform's pg backend guards the creation of a workspace with one advisory lock for the whole
    database (``pg_try_advisory_lock(-1)``), held for a whole plan or apply of a new environment:
    every other new environment failed at once with "Already locked for workspace creation".
    With the workspace row present, each environment locks only its own row (ids come from one
    sequence for all schemas, as Terraform's own table definition has it).
    """
    from uuid import uuid4

    from django.db import connection, transaction

    empty_state = json.dumps(
        {
            "version": 4,
            "terraform_version": "1.0.0",  # older than any binary that reads it
            "serial": 0,
            "lineage": str(uuid4()),
            "outputs": {},
            "resources": [],
        }
    )
    quoted = connection.ops.quote_name(schema)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_STATE_DDL_LOCK])
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS public.global_states_id_seq AS bigint")
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.states ("  # noqa: S608 (a quoted identifier of ours)
            "id bigint NOT NULL DEFAULT nextval('public.global_states_id_seq') PRIMARY KEY, "
            "name text UNIQUE, data text)"
        )
        cursor.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS states_by_name ON {quoted}.states (name)")
        cursor.execute(
            f"INSERT INTO {quoted}.states (name, data) VALUES ('default', %s) ON CONFLICT (name) DO NOTHING",  # noqa: S608
            [empty_state],
        )


def _binary() -> Path:
    binary = terraform.find_binary()
    problem = terraform.binary_problem()
    if binary is None or problem:
        raise terraform.TerraformError(f"Terraform is not available: {problem}.")
    return binary


def _step(run: Run, writer: LogWriter, controller, argv: list[str], workdir: Path, *, capture=False) -> str:
    shown = " ".join([Path(argv[0]).name, *argv[1:]])
    writer.line(f"$ {shown}")
    code, out = terraform.execute(
        argv,
        working_dir=workdir,
        on_line=writer.line,
        controller=controller,
        capture=capture,
        grace=settings.PROVISIONING_INTERRUPT_GRACE_SECONDS,
        timeout=settings.RUN_TIME_LIMIT_SECONDS,
    )
    if code != 0:
        raise terraform.TerraformError(f"`{shown}` exited with code {code}.", exit_code=code)
    return out


def _plan(run: Run, writer: LogWriter, controller) -> None:
    binary = _binary()
    request = run.request
    workdir = working_dir(request)
    variables = services.terraform_variables(request)
    terraform.prepare_working_dir(workdir, request.template_version.files, variables.values)
    (workdir / terraform.PLAN_FILE).unlink(missing_ok=True)
    writer.line(f"Template {request.template.name} v{request.template_version.number}; working directory ready.")
    backend = _backend_options(request, workdir)
    init = terraform.command(binary, workdir, "init", input=False, no_color=terraform.FLAG, **backend)
    plan = terraform.command(
        binary,
        workdir,
        "plan",
        input=False,
        no_color=terraform.FLAG,
        var_file=terraform.VARS_FILE,
        out=terraform.PLAN_FILE,
        **_lock_wait(),
    )
    show = terraform.command(binary, workdir, "show", terraform.PLAN_FILE, json=terraform.FLAG, no_color=terraform.FLAG)
    services.run_set_command(run_id=run.pk, command="\n".join(" ".join(a[1:]) for a in (init, plan, show)))
    _step(run, writer, controller, init, workdir)
    _step(run, writer, controller, plan, workdir)
    out = _step(run, writer, controller, show, workdir, capture=True)
    try:
        shown = json.loads(out)
    except ValueError:
        raise terraform.TerraformError("`terraform show -json` did not return JSON.")
    summary = terraform.plan_summary(shown)
    writer.flush()
    services.log_redact(run_id=run.pk, secrets=[*terraform.sensitive_values(shown), *variables.secret_values])
    writer.line(
        f"Plan summary: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy; "
        f"{len(summary['outputs'])} output(s)."
    )
    summary["kubernetes"] = _kubernetes_plan(request, writer, summary)
    writer.flush()
    services.run_plan_succeeded(run_id=run.pk, summary=summary)


def _kubernetes_plan(request, writer: LogWriter, summary: dict) -> dict:
    """The Kubernetes objects the apply will create, change or delete, checked before anyone approves."""
    writer.line("Kubernetes: checking the objects against the Kubernetes schemas and the cluster.")
    try:
        plan = services.kubernetes_plan(request, summary["outputs"])
    except services.KubernetesInvalid as exc:
        writer.line(f"kubernetes: refused: {exc}")
        raise terraform.TerraformError(f"The template's Kubernetes objects would be refused by the cluster: {exc}")
    if "skipped" in plan:
        writer.line(f"kubernetes: skipped: {plan['skipped']}")
        return plan
    for change in plan["objects"]:
        writer.line(f"kubernetes: {change['kind']} {plan['namespace']}/{change['name']}: {change['action']}")
    writer.line(
        f"Kubernetes plan on cluster {plan['cluster']}: {plan['create']} to create, {plan['update']} to change, "
        f"{plan['delete']} to delete. {plan['note']}"
    )
    return plan


def _apply(run: Run, writer: LogWriter, controller) -> None:
    binary = _binary()
    workdir = working_dir(run.request)
    if not (workdir / terraform.PLAN_FILE).is_file():
        raise terraform.TerraformError(
            "The saved plan is missing from this worker's working directory; retry the request to plan again."
        )
    apply = terraform.command(
        binary, workdir, "apply", terraform.PLAN_FILE, input=False, no_color=terraform.FLAG, **_lock_wait()
    )
    output = terraform.command(binary, workdir, "output", json=terraform.FLAG, no_color=terraform.FLAG)
    services.run_set_command(run_id=run.pk, command="\n".join(" ".join(a[1:]) for a in (apply, output)))
    _step(run, writer, controller, apply, workdir)
    out = _step(run, writer, controller, output, workdir, capture=True)
    try:
        outputs = json.loads(out or "{}")
    except ValueError:
        raise terraform.TerraformError("`terraform output -json` did not return JSON.")
    writer.flush()
    services.log_redact(
        run_id=run.pk,
        secrets=[*terraform.sensitive_values(outputs), *services.terraform_variables(run.request).secret_values],
    )
    (workdir / terraform.PLAN_FILE).unlink(missing_ok=True)  # it holds the values of sensitive outputs
    masked = terraform.masked_outputs(outputs)
    outcome = _kubernetes_step(run, writer, masked)
    writer.line(f"Environment ready with {len(outputs)} output(s).")
    writer.flush()
    services.run_apply_succeeded(run_id=run.pk, outputs=masked, kubernetes=outcome)


def _kubernetes_step(run: Run, writer: LogWriter, masked_outputs: dict) -> services.KubernetesOutcome:
    """Apply the template's Kubernetes objects after Terraform; skipped (with the reason) without a cluster."""
    from provisioning import kubernetes as kube

    request = run.request
    try:
        cluster = services.cluster_of(request)
    except services.KubernetesSkipped as exc:
        writer.line(f"kubernetes: skipped: {exc}")
        return services.KubernetesOutcome(state="skipped", note=str(exc))
    request.outputs = masked_outputs  # non-sensitive outputs fill the manifests' placeholders
    request.expires_at = django_now() + timedelta(hours=request.ttl_hours)
    try:
        spec = services.environment_objects(request, cluster)
    except kube.SubstitutionError as exc:
        raise terraform.TerraformError(f"Kubernetes manifests of the template cannot be filled: {exc}.")
    problems = kube.environment_problems(spec)
    if problems:
        writer.line(f"kubernetes: refused before applying: {'; '.join(problems[:10])}")
        raise terraform.TerraformError(f"The Kubernetes objects would be refused: {'; '.join(problems[:10])}")
    writer.line(f"kubernetes: applying to cluster {cluster.name}, namespace {spec.namespace}")
    try:
        kube.apply_environment(cluster.connection(), spec, writer.line)
    except kube.ClusterError as exc:
        writer.line(f"kubernetes: failed: {exc}")
        raise terraform.TerraformError(f"Applying to cluster {cluster.name} failed: {exc}")
    return services.KubernetesOutcome(
        state="applied", note=f"Applied to cluster {cluster.name}.", cluster_id=cluster.pk, namespace=spec.namespace
    )


def _destroy(run: Run, writer: LogWriter, controller) -> None:
    """One destroy run: delete the namespace and wait until it is gone, THEN terraform destroy."""
    from provisioning import kubernetes as kube

    binary = _binary()
    request = run.request
    writer.line("Step 1 of 2: delete the Kubernetes namespace.")
    if request.cluster_id and request.namespace:
        try:
            kube.delete_namespace(
                request.cluster.connection(),
                request.namespace,
                writer.line,
                owner=str(request.pk),
                timeout=settings.PROVISIONING_NAMESPACE_DELETE_TIMEOUT,
                poll=settings.PROVISIONING_NAMESPACE_POLL_SECONDS,
            )
        except kube.ClusterError as exc:
            writer.line(f"kubernetes: failed: {exc}")
            raise terraform.TerraformError(f"Deleting namespace {request.namespace} failed: {exc}")
    else:
        writer.line("kubernetes: skipped: no namespace was applied for this environment")
    writer.line("Step 2 of 2: terraform destroy.")
    workdir = working_dir(request)
    variables = services.terraform_variables(request)
    terraform.prepare_working_dir(workdir, request.template_version.files, variables.values)
    backend = _backend_options(request, workdir)
    init = terraform.command(binary, workdir, "init", input=False, no_color=terraform.FLAG, **backend)
    destroy = terraform.command(
        binary,
        workdir,
        "destroy",
        input=False,
        no_color=terraform.FLAG,
        auto_approve=terraform.FLAG,
        var_file=terraform.VARS_FILE,
        **_lock_wait(),
    )
    services.run_set_command(run_id=run.pk, command="\n".join(" ".join(a[1:]) for a in (init, destroy)))
    _step(run, writer, controller, init, workdir)
    _step(run, writer, controller, destroy, workdir)
    writer.flush()
    services.log_redact(run_id=run.pk, secrets=variables.secret_values)
    writer.line("Environment destroyed.")
    writer.flush()
    services.run_destroy_succeeded(run_id=run.pk)


def check_drift(request_id: int) -> dict:
    """Compare the namespace with what Bridge applied, and run ``terraform plan -detailed-exitcode``."""
    from provisioning import kubernetes as kube
    from provisioning.models import EnvironmentRequest

    request = EnvironmentRequest.objects.select_related("template_version", "template", "team", "cluster").get(
        pk=request_id
    )
    if request.state != "active" or request.runs.filter(status__in=("queued", "running")).exists():
        return {"skipped": "the environment is not active, or a run is working in its directory"}
    differences: list[str] = []
    if request.cluster_id and request.namespace:
        try:
            spec = services.environment_objects(request, request.cluster, with_expiry=False)
            differences = kube.detect_drift(request.cluster.connection(), spec)
        except (kube.ClusterError, kube.SubstitutionError) as exc:
            differences = [f"the cluster could not be checked: {exc}"]
    verdict, detail = _terraform_drift(request)
    services.drift_record(request_id=request_id, kubernetes=differences, terraform=verdict, terraform_detail=detail)
    return {"kubernetes": differences, "terraform": verdict}


def _terraform_drift(request) -> tuple[str, str]:
    """("none" | "changes" | "error", detail) from ``terraform plan -detailed-exitcode``."""
    binary = terraform.find_binary()
    if binary is None or terraform.binary_problem():
        return "error", f"Terraform is not available: {terraform.binary_problem()}"
    workdir = working_dir(request)
    lines: list[str] = []
    try:
        variables = services.terraform_variables(request)
        terraform.prepare_working_dir(workdir, request.template_version.files, variables.values)
        backend = _backend_options(request, workdir)
        init = terraform.command(binary, workdir, "init", input=False, no_color=terraform.FLAG, **backend)
        plan = terraform.command(
            binary,
            workdir,
            "plan",
            input=False,
            no_color=terraform.FLAG,
            lock=False,
            detailed_exitcode=terraform.FLAG,
            var_file=terraform.VARS_FILE,
        )
        controller = terraform.Controller(grace=settings.PROVISIONING_INTERRUPT_GRACE_SECONDS)
        code, _ = terraform.execute(init, working_dir=workdir, on_line=lines.append, controller=controller)
        if code != 0:
            return "error", "\n".join(lines[-15:])
        lines.clear()
        code, _ = terraform.execute(plan, working_dir=workdir, on_line=lines.append, controller=controller)
    except (terraform.TerraformError, services.ServiceError) as exc:
        return "error", str(exc)
    changes = [line for line in lines if line.strip().startswith(("#", "Plan:"))]
    if code == 0:
        return "none", "No changes."
    if code == 2:
        return "changes", "\n".join(changes[-40:])
    return "error", "\n".join(lines[-15:])


LOCK_INFO = ".terraform.tfstate.lock.info"


def state_lock(request) -> dict | None:
    """The Terraform state lock left in the request's working directory (local backend), if any.

    The pg backend's locks are PostgreSQL advisory locks: they end with the session that
    held them, so a dead worker never leaves one behind.
    """
    path = working_dir(request) / LOCK_INFO
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not info.get("ID"):
        return None
    return {key.lower(): str(info.get(key, "")) for key in ("ID", "Operation", "Who", "Created", "Path")}


def release_state_lock(request, lock_id: str) -> tuple[bool, str]:
    """``terraform force-unlock -force <id>`` in the request's working directory; (ok, output)."""
    binary = _binary()
    workdir = working_dir(request)
    lines: list[str] = []
    argv = terraform.command(binary, workdir, "force-unlock", lock_id, force=terraform.FLAG, no_color=terraform.FLAG)
    code, _ = terraform.execute(
        argv, working_dir=workdir, on_line=lines.append, controller=terraform.Controller(grace=5), timeout=120
    )
    output = "\n".join(lines[-10:])
    if code != 0 and "not locked" in output:
        # The local backend's lock is a file lock that died with its process: only the record of it
        # was left behind. Nothing holds the state; remove the stale record.
        (workdir / LOCK_INFO).unlink(missing_ok=True)
        return True, "No process held the state; the stale lock record was removed."
    return code == 0, output


def relabel_namespace(request_id: int) -> str:
    """Bring the namespace's expiry label up to date after an extension."""
    from provisioning import kubernetes as kube
    from provisioning.models import EnvironmentRequest

    request = EnvironmentRequest.objects.select_related("template", "team", "cluster").get(pk=request_id)
    if not (request.cluster_id and request.namespace and request.expires_at):
        return "skipped: no namespace"
    labels = {"bridge.dev/expires": f"{request.expires_at:%Y-%m-%dT%H%MZ}"}
    try:
        kube.label_namespace(request.cluster.connection(), request.namespace, labels, logger.info)
    except kube.ClusterError as exc:
        logger.warning("environment %s: %s", request_id, exc)
        return f"failed: {exc}"
    return "updated"
