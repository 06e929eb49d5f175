"""Executing one run: Terraform commands in the request's working directory.

Called by the Celery task with a run id. State changes go through
``services``; this module only drives Terraform and streams its log.

Each Terraform command runs detached (``terraform.launch``): its output goes to a file in the
run's own directory, which the worker follows into the log. If the worker dies, Terraform goes
on; the reaper notices the missing heartbeat and a worker on the same host takes the run over
(``supervise``): it replays the run, skipping the steps that finished, follows the one still
running, and carries on from there, so an apply that outlived its worker is recorded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.timezone import now as django_now

from provisioning import library, services, terraform
from provisioning.models import Run, RunKind

logger = logging.getLogger(__name__)

RUNS_DIR = ".bridge"


def working_dir(request) -> Path:
    """The request's own directory: module, variables, saved plan and local state.

    The creation time is part of the name so that a database reset (tests, a new
    install) never reuses another request's state.
    """
    return settings.PROVISIONING_WORK_DIR / "requests" / f"{request.pk}-{request.created_at:%Y%m%d%H%M%S%f}"


def run_dir(run: Run) -> Path:
    """The run's own files (each step's output, exit code and lock) inside the working directory."""
    return working_dir(run.request) / RUNS_DIR / f"run-{run.pk}"


def this_host() -> str:
    return socket.gethostname()


def terraform_variables(request) -> tuple[dict, set[str]]:
    """The values Terraform gets for this request (``services.terraform_variables``: declared
    parameters, secrets decrypted, built-ins), and the names of those that are secrets.

    Secrets are the template's secret parameters and every variable the module marks
    ``sensitive = true``. Their values go only into the 0600 variables file, which is removed when
    the run ends, and are masked in the log, the plan summary and the outputs should Terraform
    print them.
    """
    variables = services.terraform_variables(request)
    secret = set(variables.secret_names) | library.sensitive_variables(request.template_version.files)
    return dict(variables.values), secret


def secret_strings(values: dict, secret: set[str]) -> list[str]:
    """The string forms of the secret values, longest first, to mask in log lines."""
    found = []
    for name in secret:
        value = values.get(name)
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) >= 4:
            found.append(text)
    return sorted(set(found), key=len, reverse=True)


def _masked(value, secrets: list[str]):
    """``value`` (JSON-like) with every secret string in it replaced by the mask."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, terraform.MASK)
        return value
    if isinstance(value, dict):
        return {key: _masked(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, secrets) for item in value]
    return value


class LogWriter:
    """Buffers lines and stores them every few tenths of a second, numbered in order.

    Secret values are masked before a line is stored. Lines that come from a step's output file
    carry their position in it (the cursor), stored with them, so that whoever takes the run over
    goes on from the first line not stored.
    """

    def __init__(self, run_id: int, start_after: int = 0, interval: float = 0.25, secrets: list[str] | None = None):
        self.run_id = run_id
        self.next_number = start_after + 1
        self.interval = interval
        self.secrets = secrets or []
        self._pending: list[str] = []
        self._cursor: dict | None = None
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, terraform.MASK)
        return text

    def line(self, text: str, cursor: dict | None = None) -> None:
        with self._lock:
            self._pending.append(self._mask(text))
            if cursor is not None:
                self._cursor = cursor
        if time.monotonic() - self._last_flush >= self.interval:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            cursor, self._cursor = self._cursor, None
            if pending:
                self.next_number = (
                    services.log_append(run_id=self.run_id, first_number=self.next_number, lines=pending, cursor=cursor)
                    + 1
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


class RunContext:
    """One execution (or takeover) of a run: its steps, numbered in the order the run takes them.

    When taking a run over, steps that finished are not started again (their output is not
    logged twice), the step still running is followed, and Bridge's own log lines are held back
    until the run reaches the point where its previous worker stopped.
    """

    def __init__(self, run: Run, writer: LogWriter, controller: terraform.Controller, *, resuming: bool = False):
        self.run = run
        self.writer = writer
        self.controller = controller
        self.resuming = resuming
        self.index = 0
        cursor = run.log_cursor or {}
        self.cursor_step = int(cursor.get("step", 0) or 0)
        self.cursor_lines = int(cursor.get("lines", 0) or 0)
        self.dir = run_dir(run)

    def say(self, text: str) -> None:
        if not self.resuming:
            self.writer.line(text)

    def step(self, argv: list[str], workdir: Path, *, capture: bool = False) -> str:
        self.index += 1
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = terraform.StepFiles(self.dir / f"{self.index:02d}-{argv[1]}")
        shown = " ".join([Path(argv[0]).name, *argv[1:]])
        state = files.state()
        skip = 0
        if state == "absent":
            self.resuming = False
            self.writer.line(f"$ {shown}", {"step": self.index, "lines": 0})
            process = terraform.launch(argv, working_dir=workdir, files=files, capture=capture)
        else:
            if self.index < self.cursor_step:
                skip = 10**9  # stored in full before
            elif self.index == self.cursor_step:
                skip = self.cursor_lines
            if state == "running":
                self.resuming = False
                self.writer.line(f"Following `{shown}`, which is still running.")
            process = terraform.DetachedProcess(files)
        index = self.index
        code, out = terraform.follow(
            process,
            on_line=lambda text, number: self.writer.line(text, {"step": index, "lines": number}),
            controller=self.controller,
            skip_lines=skip,
            capture=capture,
            grace=settings.PROVISIONING_INTERRUPT_GRACE_SECONDS,
            timeout=settings.RUN_TIME_LIMIT_SECONDS,
        )
        if code != 0:
            raise terraform.TerraformError(f"`{shown}` exited with code {code}.", exit_code=code)
        return out


def _tail(writer: LogWriter, run_id: int, lines: int = 15) -> str:
    """The last log lines, for the failure reason shown on the request."""
    from provisioning.models import RunLogLine

    writer.flush()
    texts = list(
        RunLogLine.objects.filter(run_id=run_id).order_by("-number").values_list("text", flat=True)[: lines * 3]
    )
    relevant = [t for t in reversed(texts) if t.strip()][-lines:]
    return "\n".join(relevant)


def _load(run_id: int) -> Run:
    return Run.objects.select_related(
        "request__template_version", "request__template", "request__team", "request__cluster"
    ).get(pk=run_id)


def execute(run_id: int) -> str:
    """Claim and execute a run; returns what happened (for the task's log)."""
    close_old_connections()
    worker = f"{this_host()}:{os.getpid()}"
    run = services.run_claim(run_id=run_id, worker=worker, pid=os.getpid(), host=this_host())
    if run is None:
        return "skipped: not queued (already claimed, finished or canceled)"
    return _drive(_load(run_id), resuming=False)


def supervise(run_id: int) -> str:
    """Take over a run whose worker died, on the host where its Terraform runs (or ran)."""
    close_old_connections()
    worker = f"{this_host()}:{os.getpid()}"
    run = services.run_takeover_claim(run_id=run_id, worker=worker, pid=os.getpid(), host=this_host())
    if run is None:
        return "skipped: not waiting for a takeover on this host"
    return _drive(_load(run_id), resuming=True)


def _drive(run: Run, *, resuming: bool) -> str:
    run_id = run.pk
    values, secret = terraform_variables(run.request)
    writer = LogWriter(run_id, start_after=run.line_count, secrets=secret_strings(values, secret))
    if resuming:
        writer.line(f"The previous worker stopped responding; {run.worker} takes the run over.")
    controller = terraform.Controller(grace=settings.PROVISIONING_INTERRUPT_GRACE_SECONDS)
    heartbeat = Heartbeat(run_id, writer, controller)
    heartbeat.start()
    context = RunContext(run, writer, controller, resuming=resuming)
    succeeded = False
    try:
        if run.kind == RunKind.PLAN:
            _plan(context, values)
        elif run.kind == RunKind.DESTROY:
            _destroy(context, values)
        else:
            _apply(context)
        succeeded = True
        return "succeeded"
    except terraform.Vanished:
        writer.flush()
        services.run_fail(run_id=run_id, reason=interrupted_reason(run, on_host=True))
        return "failed"
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
        cleanup_run_files(run, keep_plan=succeeded and run.kind == RunKind.PLAN)


def cleanup_run_files(run: Run, *, keep_plan: bool = False) -> None:
    """Remove what a finished run leaves that holds secrets: the variables file, the step files, the plan.

    The saved plan of a successful plan run stays until its apply (or the request ends).
    """
    workdir = working_dir(run.request)
    (workdir / terraform.VARS_FILE).unlink(missing_ok=True)
    shutil.rmtree(run_dir(run), ignore_errors=True)
    if not keep_plan and run.kind in (RunKind.PLAN, RunKind.APPLY):
        (workdir / terraform.PLAN_FILE).unlink(missing_ok=True)


def remove_secrets_left_by(run: Run) -> bool:
    """Remove what a run whose worker was killed left holding secrets, if it was the request's last run.

    Its worker never got to ``cleanup_run_files``. Nothing is removed while the request has a
    later run, or one queued or running: that run uses the same variables file and plan.
    """
    from provisioning.models import RunStatus

    latest = run.request.runs.order_by("-created_at", "-pk").only("pk", "status").first()
    if latest is None or latest.pk != run.pk or latest.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        return False
    cleanup_run_files(run, keep_plan=run.kind == RunKind.PLAN and latest.status == RunStatus.SUCCEEDED)
    return True


def remove_secrets_left_on_this_host(run_id: int) -> str:
    """The reaper failed this run elsewhere: remove its secrets here, where its working directory is."""
    run = Run.objects.select_related("request").filter(pk=run_id).first()
    if run is None or run.host != this_host():
        return "skipped: not a run of this host"
    return "removed" if remove_secrets_left_by(run) else "skipped: another run uses its working directory"


def interrupted_reason(run: Run, *, on_host: bool) -> str:
    """What happened to a run whose Terraform was lost with its worker, and what to do next."""
    what = run.get_kind_display().lower()
    if run.kind == RunKind.PLAN:
        return (
            f"The worker running this plan ({run.worker or 'unknown'}) died and the plan could not be finished. "
            "A plan changes nothing: retry the request."
        )
    if settings.PROVISIONING_STATE_BACKEND == "pg":
        lock = "No state lock is left: the pg backend's locks end with Terraform's connection."
    else:
        held = state_lock(run.request) if on_host else None
        lock = (
            f"Terraform's state lock {held['id']} is still recorded; release it from this page once you are sure "
            "no Terraform process runs."
            if held
            else "No state lock is recorded."
        )
    return (
        f"Interrupted: state may be incomplete. The worker running this {what} ({run.worker or 'unknown'}) died "
        f"and Terraform's outcome is unknown: resources may exist that the state does not record. {lock} "
        "What to do: a Platform Admin compares the state with the real resources (terraform state list in "
        "the environment's working directory), imports or removes what differs, then retries."
    )


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
        # The schema name is Bridge's own (state_schema), quoted as an identifier.
        insert = f"INSERT INTO {quoted}.states (name, data) VALUES ('default', %s) ON CONFLICT DO NOTHING"  # noqa: S608  # nosec B608
        cursor.execute(insert, [empty_state])


def _binary() -> Path:
    binary = terraform.find_binary()
    problem = terraform.binary_problem()
    if binary is None or problem:
        raise terraform.TerraformError(f"Terraform is not available: {problem}.")
    return binary


def _plan(context: RunContext, values: dict) -> None:
    run = context.run
    binary = _binary()
    request = run.request
    workdir = working_dir(request)
    terraform.prepare_working_dir(workdir, request.template_version.files, values)
    if not context.resuming:
        (workdir / terraform.PLAN_FILE).unlink(missing_ok=True)
    context.say(f"Template {request.template.name} v{request.template_version.number}; working directory ready.")
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
    context.step(init, workdir)
    context.step(plan, workdir)
    out = context.step(show, workdir, capture=True)
    try:
        shown = json.loads(out)
    except ValueError:
        raise terraform.TerraformError("`terraform show -json` did not return JSON.")
    summary = _masked(terraform.plan_summary(shown), context.writer.secrets)
    services.log_redact(run_id=run.pk, secrets=[*terraform.sensitive_values(shown), *context.writer.secrets])
    context.say(
        f"Plan summary: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy; "
        f"{len(summary['outputs'])} output(s)."
    )
    summary["kubernetes"] = _kubernetes_plan(request, context.writer, summary)
    context.writer.flush()
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


def _apply(context: RunContext) -> None:
    run = context.run
    binary = _binary()
    workdir = working_dir(run.request)
    apply = terraform.command(
        binary, workdir, "apply", terraform.PLAN_FILE, input=False, no_color=terraform.FLAG, **_lock_wait()
    )
    output = terraform.command(binary, workdir, "output", json=terraform.FLAG, no_color=terraform.FLAG)
    first = terraform.StepFiles(run_dir(run) / "01-apply")
    if first.state() == "absent" and not (workdir / terraform.PLAN_FILE).is_file():
        raise terraform.TerraformError(
            "The saved plan is missing from this worker's working directory; retry the request to plan again."
        )
    services.run_set_command(run_id=run.pk, command="\n".join(" ".join(a[1:]) for a in (apply, output)))
    context.step(apply, workdir)
    out = context.step(output, workdir, capture=True)
    try:
        outputs = json.loads(out or "{}")
    except ValueError:
        raise terraform.TerraformError("`terraform output -json` did not return JSON.")
    context.writer.flush()
    services.log_redact(run_id=run.pk, secrets=[*terraform.sensitive_values(outputs), *context.writer.secrets])
    (workdir / terraform.PLAN_FILE).unlink(missing_ok=True)  # it holds the values of sensitive outputs
    masked = _masked(terraform.masked_outputs(outputs), context.writer.secrets)
    outcome = _kubernetes_step(context, masked)
    context.writer.line(f"Environment ready with {len(outputs)} output(s).")
    context.writer.flush()
    services.run_apply_succeeded(run_id=run.pk, outputs=masked, kubernetes=outcome)


def _kubernetes_step(context: RunContext, masked_outputs: dict) -> services.KubernetesOutcome:
    """Apply the template's Kubernetes objects after Terraform; skipped (with the reason) without a cluster."""
    from provisioning import kubernetes as kube

    run, writer = context.run, context.writer
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


def _destroy(context: RunContext, values: dict) -> None:
    """One destroy run: delete the namespace and wait until it is gone, THEN terraform destroy."""
    from provisioning import kubernetes as kube

    run, writer = context.run, context.writer
    binary = _binary()
    request = run.request
    context.say("Step 1 of 2: delete the Kubernetes namespace.")
    if terraform.StepFiles(run_dir(run) / "01-init").state() != "absent":
        pass  # taken over after the namespace was deleted: Terraform had started
    elif (target := _namespace_to_delete(request)) is not None:
        cluster, namespace = target
        try:
            kube.delete_namespace(
                cluster.connection(),
                namespace,
                writer.line,
                owner=str(request.pk),
                timeout=settings.PROVISIONING_NAMESPACE_DELETE_TIMEOUT,
                poll=settings.PROVISIONING_NAMESPACE_POLL_SECONDS,
            )
        except kube.ClusterError as exc:
            writer.line(f"kubernetes: failed: {exc}")
            raise terraform.TerraformError(f"Deleting namespace {namespace} failed: {exc}")
    else:
        writer.line("kubernetes: skipped: no namespace was applied for this environment")
    context.say("Step 2 of 2: terraform destroy.")
    workdir = working_dir(request)
    terraform.prepare_working_dir(workdir, request.template_version.files, values)
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
    context.step(init, workdir)
    context.step(destroy, workdir)
    writer.line("Environment destroyed.")
    writer.flush()
    if services.run_destroy_succeeded(run_id=run.pk) is not None:
        remove_environment_files(request)


def _namespace_to_delete(request):
    """(cluster, namespace) the environment has or may have: a failed apply may have created one unrecorded."""
    if request.cluster_id and request.namespace:
        return request.cluster, request.namespace
    try:
        cluster = services.cluster_of(request)
    except services.KubernetesSkipped:
        return None
    return cluster, services.namespace_name(request, cluster)


def remove_environment_files(request) -> None:
    """Remove what an environment that no longer exists leaves: its working directory and state schema."""
    shutil.rmtree(working_dir(request), ignore_errors=True)
    if settings.PROVISIONING_STATE_BACKEND == "pg" and settings.DATABASE_IS_POSTGRES:
        from django.db import connection as db

        with db.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {db.ops.quote_name(state_schema(request))} CASCADE")


def workdirs_cleanup() -> dict[str, int]:
    """Remove the files of environments that are gone, on this host; and variables files no run uses.

    A destroyed environment loses its working directory and state schema. A rejected or canceled
    request loses them too, unless an apply ever started for it: then its state may still track
    resources (destroy those first, with "Destroy what was created").
    """
    from provisioning.models import EnvironmentRequest, RequestState, RunStatus

    counts = {"removed": 0, "variables": 0}
    root = settings.PROVISIONING_WORK_DIR / "requests"
    if not root.is_dir():
        return counts
    by_name = {}
    for path in root.iterdir():
        request_id, _, _ = path.name.partition("-")
        if request_id.isdigit():
            by_name[path.name] = int(request_id)
    requests = EnvironmentRequest.objects.filter(pk__in=set(by_name.values())).prefetch_related("runs")
    for request in requests:
        path = working_dir(request)
        if not path.is_dir():
            continue
        applied = any(r.kind != RunKind.PLAN and r.started_at for r in request.runs.all())
        busy = any(r.status in (RunStatus.QUEUED, RunStatus.RUNNING) for r in request.runs.all())
        if request.state == RequestState.DESTROYED or (
            request.state in (RequestState.REJECTED, RequestState.CANCELED) and not applied
        ):
            remove_environment_files(request)
            counts["removed"] += 1
        elif not busy and (path / terraform.VARS_FILE).exists():
            # Left by a run whose worker was killed: remove its plan and step files too.
            latest = max(request.runs.all(), key=lambda r: (r.created_at, r.pk), default=None)
            if latest is None or not remove_secrets_left_by(latest):
                (path / terraform.VARS_FILE).unlink(missing_ok=True)
            counts["variables"] += 1
    return counts


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
    masker = LogWriter(0)
    lines: list[str] = []

    def collect(text: str) -> None:
        lines.append(masker._mask(text))

    try:
        variables, secret = terraform_variables(request)
        masker.secrets = secret_strings(variables, secret)
        terraform.prepare_working_dir(workdir, request.template_version.files, variables)
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
        code, _ = terraform.execute(init, working_dir=workdir, on_line=collect, controller=controller)
        if code != 0:
            return "error", "\n".join(lines[-15:])
        lines.clear()
        code, _ = terraform.execute(plan, working_dir=workdir, on_line=collect, controller=controller)
    except (terraform.TerraformError, services.ServiceError) as exc:
        return "error", str(exc)
    finally:
        (workdir / terraform.VARS_FILE).unlink(missing_ok=True)
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
