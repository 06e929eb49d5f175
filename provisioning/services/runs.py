"""Runs, as the worker reports them: claim, heartbeat, success, failure, log lines."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from provisioning.models import (
    ApprovalPolicy,
    EnvironmentRequest,
    RequestTransition,
    Run,
    RunKind,
    RunLogLine,
    RunStatus,
)
from provisioning.services import _common
from provisioning.services._common import (
    S,
    _lock_request,
    _new_run,
    _notify_approvers,
    _notify_requester,
    _transition,
    expiry_warn_at,
    is_reapply,
)
from provisioning.services.kubernetes import KubernetesOutcome

logger = logging.getLogger(__name__)


def run_claim(*, run_id: int, worker: str, pid: int | None = None, host: str = "") -> Run | None:
    """Claim a queued run for this worker; None if it is not queued (a redelivery, a cancel)."""
    with transaction.atomic():
        request_id = Run.objects.filter(pk=run_id).values_list("request_id", flat=True).first()
        if request_id is None:
            return None
        request = _lock_request(request_id)
        now = timezone.now()
        claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=worker[:200],
            pid=pid,
            host=(host or worker.rpartition(":")[0])[:200],
            takeover_requested_at=None,
        )
        if not claimed:
            return None
        run = Run.objects.get(pk=run_id)
        if run.kind == RunKind.DESTROY:
            # The request became DESTROYING when the destroy was asked for.
            RequestTransition.objects.create(
                request=request, from_state=request.state, to_state=request.state, note=f"Destroy started on {worker}."
            )
            return run
        target = S.PLANNING if run.kind == RunKind.PLAN else S.APPLYING
        _transition(request, target, action=f"{run.kind}.start", note=f"{run.get_kind_display()} started on {worker}.")
        return run


def run_heartbeat(*, run_id: int) -> bool:
    """Note that the run's worker is alive; True if a cancel was requested."""
    Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
    return bool(Run.objects.filter(pk=run_id, cancel_requested=True).exists())


def run_set_command(*, run_id: int, command: str) -> None:
    Run.objects.filter(pk=run_id).update(command=command[:5000])


def _finish_run(run_id: int, status: str, *, exit_code: int | None = None, error: str = "") -> Run | None:
    """Finish a running run; None if it is no longer running (the reaper or a cancel got there first)."""
    updated = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), exit_code=exit_code, error=error[:5000]
    )
    return Run.objects.get(pk=run_id) if updated else None


def run_plan_succeeded(*, run_id: int, summary: dict) -> EnvironmentRequest | None:
    """Store the plan summary; the request awaits approval, or is approved at once by policy."""
    with transaction.atomic():
        request = _lock_request(Run.objects.values_list("request_id", flat=True).get(pk=run_id))
        if Run.objects.filter(pk=run_id, cancel_requested=True).exists():
            # Canceled while Terraform was finishing: the cancel wins.
            run_fail(run_id=run_id, reason="Canceled while planning.", canceled=True)
            return None
        run = _finish_run(run_id, RunStatus.SUCCEEDED, exit_code=0)
        if run is None:
            return None
        request.plan_summary = summary
        if request.template_version.approval_policy == ApprovalPolicy.AUTO:
            _transition(request, S.APPROVED, action="auto-approve", note="Approved automatically by the template.")
            _new_run(request, RunKind.APPLY)
        else:
            _transition(request, S.AWAITING_APPROVAL, action="plan.succeed", note="Plan ready for review.")
            _notify_approvers(request)
    return request


def run_apply_succeeded(
    *, run_id: int, outputs: dict, kubernetes: KubernetesOutcome | None = None
) -> EnvironmentRequest | None:
    """Store the (masked) outputs and what the Kubernetes step did; the environment is active."""
    with transaction.atomic():
        request = _lock_request(Run.objects.values_list("request_id", flat=True).get(pk=run_id))
        run = _finish_run(run_id, RunStatus.SUCCEEDED, exit_code=0)
        if run is None:
            return None
        now = timezone.now()
        request.outputs = outputs
        if kubernetes is not None:
            request.kubernetes_state = kubernetes.state
            request.kubernetes_note = kubernetes.note[:5000]
            request.cluster_id = kubernetes.cluster_id
            request.namespace = kubernetes.namespace
        if is_reapply(request):
            # A re-apply keeps the environment's lifetime; it matches its template again.
            request.is_drifted = False
            request.drift = {}
            request.drift_checked_at = None
            _transition(request, S.ACTIVE, action="reapply.succeed", note="Re-applied: the environment is active.")
            _notify_requester(request, "is active", "The template was applied again.")
            return request
        request.activated_at = now
        request.expires_at = now + timedelta(hours=request.ttl_hours)
        request.expiry_warn_at = expiry_warn_at(now, request.expires_at)
        request.expiry_warned_at = None
        _transition(request, S.ACTIVE, action="apply.succeed", note="Environment is active.")
        _notify_requester(request, "is active", f"It expires at {request.expires_at:%Y-%m-%d %H:%M} UTC.")
    return request


def run_fail(*, run_id: int, reason: str, exit_code: int | None = None, canceled: bool = False) -> bool:
    """A run failed (or was canceled while running): the request fails with the reason, or is canceled."""
    with transaction.atomic():
        request = _lock_request(Run.objects.values_list("request_id", flat=True).get(pk=run_id))
        run = _finish_run(
            run_id, RunStatus.CANCELED if canceled else RunStatus.FAILED, exit_code=exit_code, error=reason
        )
        if run is None:
            return False
        if canceled and run.kind == RunKind.PLAN:
            if is_reapply(request):
                _transition(request, S.ACTIVE, action="reapply.cancel", note=f"{reason} The environment is unchanged.")
            else:
                _transition(request, S.CANCELED, action="cancel", note=reason)
            return True
        request.failure_reason = reason[:5000]
        _transition(request, S.FAILED, action=f"{run.kind}.fail", note=reason[:500])
        _notify_requester(request, "failed", reason[:2000])
    return True


def host_queue(host: str) -> str:
    """The queue only the workers of ``host`` consume (see provisioning.tasks)."""
    return f"provisioning.host.{host}"


def run_dispatch(*, run_id: int) -> bool:
    """Send a queued run to the broker; False (and the run stays undispatched) if the broker is unreachable."""
    from provisioning import tasks

    try:
        tasks.execute_run.apply_async(args=[run_id], retry_policy=PUBLISH_RETRY)
    except Exception:
        logger.warning("run %s could not be handed to the broker; the relay will retry", run_id, exc_info=True)
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(dispatched_at=None)
        return False
    Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
    return True


# Publishing gives up quickly when the broker is down: the relay hands the run over later.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def runs_relay(*, now=None, limit: int = 200) -> int:
    """Hand over queued runs that no worker has: never dispatched (the broker was down), or long ago.

    Each is claimed with a conditional update first, so two relays never send it twice; a second
    delivery would do no harm anyway (the run claim is conditional too).
    """
    now = now or timezone.now()
    fresh = now - timedelta(seconds=settings.PROVISIONING_RELAY_AFTER_SECONDS)
    stale = now - timedelta(seconds=settings.PROVISIONING_REDISPATCH_SECONDS)
    waiting = Run.objects.filter(status=RunStatus.QUEUED).filter(
        Q(dispatched_at__isnull=True, created_at__lt=fresh) | Q(dispatched_at__lt=stale)
    )
    sent = 0
    for run_id, dispatched_at in waiting.order_by("created_at").values_list("pk", "dispatched_at")[:limit]:
        claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, dispatched_at=dispatched_at).update(
            dispatched_at=now
        )
        if not claimed:
            continue
        if run_dispatch(run_id=run_id):
            sent += 1
        else:
            break  # the broker is still unreachable: the next tick tries again
    return sent


def _send_to_host_of(run_id: int, task, what: str) -> bool:
    """Send ``task`` for a run to the queue of the run's host (its files are there); False when the
    run is gone or the broker refused it, with a warning naming ``what`` was not sent."""
    run = Run.objects.filter(pk=run_id).only("host").first()
    if run is None:
        return False
    try:
        task.apply_async(args=[run_id], queue=host_queue(run.host), retry_policy=PUBLISH_RETRY)
    except Exception:
        logger.warning("%s of run %s could not be sent to %s", what, run_id, run.host, exc_info=True)
        return False
    return True


def run_dispatch_takeover(*, run_id: int) -> bool:
    """Send the takeover of a run to its host's queue; if that fails, the next reap asks again."""
    from provisioning import tasks

    if _send_to_host_of(run_id, tasks.supervise_run, "the takeover"):
        return True
    Run.objects.filter(pk=run_id).update(takeover_requested_at=None)
    return False


def run_takeover_claim(*, run_id: int, worker: str, host: str, pid: int | None = None) -> Run | None:
    """Claim the takeover of a run whose worker died; only a worker on the run's host can (its files are there)."""
    claimed = Run.objects.filter(
        pk=run_id, status=RunStatus.RUNNING, takeover_requested_at__isnull=False, host=host
    ).update(worker=worker[:200], pid=pid, heartbeat_at=timezone.now(), takeover_requested_at=None)
    return Run.objects.get(pk=run_id) if claimed else None


def runs_reap_dead(*, now=None) -> int:
    """Find running runs whose worker sent no heartbeat for a while.

    First, a worker on the run's host is asked to take the run over: Terraform runs detached and
    may well still be working. If no worker there has taken it over when the heartbeat is found
    missing again, the run is failed as interrupted, saying what may be left and what to do.
    """
    from provisioning import runs as execution

    now = now or timezone.now()
    limit = settings.PROVISIONING_DEAD_RUN_SECONDS
    cutoff = now - timedelta(seconds=limit)
    acted = 0
    for run in Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).select_related("request")[:500]:
        if run.takeover_requested_at is None and run.host:
            with transaction.atomic():
                request = _lock_request(run.request_id)
                claimed = Run.objects.filter(
                    pk=run.pk, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff, takeover_requested_at__isnull=True
                ).update(takeover_requested_at=now, heartbeat_at=now)
                if not claimed:
                    continue
                RequestTransition.objects.create(
                    request=request,
                    from_state=request.state,
                    to_state=request.state,
                    note=(
                        f"The worker running the {run.kind} ({run.worker}) stopped responding: no heartbeat for "
                        f"{limit} s. A worker on {run.host} is asked to take the run over; Terraform goes on."
                    ),
                )
                _common._enqueue_supervision(run)  # looked up there, so tests can replace it
            acted += 1
            continue
        who = f"No worker on {run.host} took the run over. " if run.host else ""
        if run_fail(run_id=run.pk, reason=who + execution.interrupted_reason(run, on_host=False)):
            acted += 1
            # Its worker never removed the variables file: do it now, not at the hourly cleanup.
            if run.host == execution.this_host():
                execution.remove_secrets_left_by(run)
            elif run.host:
                _common._enqueue_secret_removal(run)  # looked up there, so tests can replace it
    return acted


def run_dispatch_secret_removal(*, run_id: int) -> bool:
    """Ask a worker on the run's host to remove the secrets the run left; if none is reachable, a
    worker starting there removes them (``provisioning.tasks``), or the hourly cleanup does."""
    from provisioning import tasks

    return _send_to_host_of(run_id, tasks.remove_run_secrets, "the removal of the secrets")


def log_append(*, run_id: int, first_number: int, lines: list[str], cursor: dict | None = None) -> int:
    """Store lines numbered from ``first_number``; returns the last number stored.

    ``cursor`` (the step and the line of its output reached) is stored with them.
    """
    if not lines:
        return first_number - 1
    RunLogLine.objects.bulk_create(
        [RunLogLine(run_id=run_id, number=first_number + i, text=text[:10000]) for i, text in enumerate(lines)]
    )
    last = first_number + len(lines) - 1
    Run.objects.filter(pk=run_id).update(line_count=last, **({"log_cursor": cursor} if cursor else {}))
    return last


def log_redact(*, run_id: int, secrets: list[str]) -> int:
    """Replace secret values in a run's stored log (defence in depth; Terraform masks them itself)."""
    from provisioning.terraform import MASK

    changed = 0
    for secret in secrets:
        for line in RunLogLine.objects.filter(run_id=run_id, text__contains=secret):
            line.text = line.text.replace(secret, MASK)
            line.save(update_fields=["text"])
            changed += 1
    return changed
