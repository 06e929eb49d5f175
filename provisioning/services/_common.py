"""Shared by every service: the legal moves, the row lock, the transition, enqueueing and notices."""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from portal.models import NotificationEvent
from portal.services import ServiceError, audit_record, notify
from provisioning.models import (
    ENDED_STATES,
    EnvironmentRequest,
    RequestState,
    RequestTransition,
    Run,
    RunKind,
)

S = RequestState

# The legal moves.
TRANSITIONS: dict[str, set[str]] = {
    # An active environment goes back to SUBMITTED to be re-applied (drift); declining or canceling
    # that change returns it to ACTIVE, as it was.
    S.SUBMITTED: {S.PLANNING, S.CANCELED, S.FAILED, S.ACTIVE},
    S.PLANNING: {S.AWAITING_APPROVAL, S.APPROVED, S.FAILED, S.CANCELED, S.ACTIVE},
    S.AWAITING_APPROVAL: {S.APPROVED, S.REJECTED, S.CANCELED, S.ACTIVE},
    S.APPROVED: {S.APPLYING, S.CANCELED, S.FAILED, S.ACTIVE},
    S.APPLYING: {S.ACTIVE, S.FAILED},
    S.FAILED: {S.SUBMITTED, S.CANCELED, S.DESTROYING},
    S.ACTIVE: {S.DESTROYING, S.SUBMITTED},
    S.DESTROYING: {S.DESTROYED, S.FAILED},
    S.DESTROYED: set(),
    S.REJECTED: set(),
    S.CANCELED: set(),
}

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


class IllegalTransition(ServiceError):
    """The request is not in a state that allows this action."""


class RequestInvalid(ServiceError):
    """The request's input is invalid; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(f"{first[0]}: {first[1][0]}")


def _lock_request(request_id: int) -> EnvironmentRequest:
    request = (
        EnvironmentRequest.objects.select_for_update(of=("self",))
        .select_related("template_version", "template", "requester")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ServiceError("No such request.")
    return request


def _transition(request: EnvironmentRequest, to: str, *, actor=None, note: str = "", action: str) -> None:
    """Move a locked request to ``to`` or refuse with a clear message."""
    if to not in TRANSITIONS[request.state]:
        raise IllegalTransition(
            f"This request is {request.get_state_display().lower()}; it cannot become {S(to).label.lower()}."
        )
    previous = request.state
    request.state = to
    request.save(
        update_fields=[
            "state",
            "failure_reason",
            "updated_at",
            "activated_at",
            "expires_at",
            "expiry_warn_at",
            "expiry_warned_at",
            "plan_summary",
            "outputs",
            "cluster",
            "namespace",
            "kubernetes_state",
            "kubernetes_note",
            "destroyed_at",
            "drift",
            "drift_checked_at",
            "is_drifted",
        ]
    )
    RequestTransition.objects.create(request=request, from_state=previous, to_state=to, actor=actor, note=note)
    if to in ENDED_STATES and request.secret_parameters:
        from provisioning.services.parameters import secrets_forget

        secrets_forget(request_id=request.pk)
        request.secret_parameters = ""  # nosec B105: the secrets are dropped
    audit_record(
        actor=actor,
        action=f"provisioning.request.{action}",
        obj=request,
        changes={"state": [previous, to], **({"note": note} if note else {})},
    )


def _enqueue_run(run: Run) -> None:
    """Hand the run to a worker once the transaction commits.

    The queued run row is the intent, stored in the same transaction as the change that asked
    for it; if the broker cannot be reached now, the relay (``runs_relay``) hands it over later.
    """
    from provisioning.services.runs import run_dispatch

    run_id = run.pk
    transaction.on_commit(lambda: run_dispatch(run_id=run_id))


def _enqueue_supervision(run: Run) -> None:
    """Ask a worker on the run's host to take the run over, once the transaction commits."""
    from provisioning.services.runs import run_dispatch_takeover

    run_id = run.pk
    transaction.on_commit(lambda: run_dispatch_takeover(run_id=run_id))


def _enqueue_secret_removal(run: Run) -> None:
    """Ask a worker on the run's host to remove the secrets the run left there, once the transaction commits."""
    from provisioning.services.runs import run_dispatch_secret_removal

    run_id = run.pk
    transaction.on_commit(lambda: run_dispatch_secret_removal(run_id=run_id))


def _new_run(request: EnvironmentRequest, kind: str) -> Run:
    run = Run.objects.create(request=request, kind=kind)
    _enqueue_run(run)
    return run


def _current_plan(request: EnvironmentRequest) -> Run | None:
    return request.runs.filter(kind=RunKind.PLAN).order_by("-created_at", "-id").first()


def _request_url(request: EnvironmentRequest) -> str:
    from django.urls import reverse

    return reverse("provisioning:request", args=[request.pk])


REQUESTER_EVENTS = {
    "was approved": NotificationEvent.APPROVAL_DECIDED,
    "was rejected": NotificationEvent.APPROVAL_DECIDED,
    "is active": NotificationEvent.ENVIRONMENT_READY,
    "failed": NotificationEvent.ENVIRONMENT_FAILED,
    "was destroyed": NotificationEvent.ENVIRONMENT_DESTROYED,
    "expires soon": NotificationEvent.ENVIRONMENT_EXPIRING,
}


def _notify_requester(request: EnvironmentRequest, what: str, detail: str = "") -> None:
    notify(
        users=[request.requester],
        team_refs=[request.team.ref] if what in ("was destroyed", "expires soon") and request.team_id else (),
        event=REQUESTER_EVENTS[what],
        title=f"Your environment {request.name} {what}",
        body=f"Your request for {request.name} ({request.template.name}) {what}.\n{detail}".strip(),
        url=_request_url(request),
    )


def _kubernetes_line(plan: dict) -> str:
    if not plan or plan.get("skipped"):
        return ""
    line = (
        f"Kubernetes on {plan.get('cluster')}, namespace {plan.get('namespace')}: {plan.get('create', 0)} to create, "
        f"{plan.get('update', 0)} to change, {plan.get('delete', 0)} to delete."
    )
    if plan.get("role") and plan.get("team"):
        line += f" Team {plan['team']} gets the ClusterRole {plan['role']}."
    return line + "\n"


def _notify_approvers(request: EnvironmentRequest) -> None:
    User = get_user_model()
    group = request.template_version.approval_group or "Approvers"
    approvers = User.objects.filter(groups__name=group, is_active=True).exclude(pk=request.requester_id).distinct()
    summary = request.plan_summary or {}
    notify(
        users=list(approvers[:200]),
        event=NotificationEvent.APPROVAL_NEEDED,
        title=f"Approval needed: {request.name}",
        body=(
            f"{request.requester.get_username()} requests {request.name} from {request.template.name}.\n"
            f"Plan: {summary.get('add', 0)} to add, {summary.get('change', 0)} to change, "
            f"{summary.get('destroy', 0)} to destroy.\n{_kubernetes_line(summary.get('kubernetes') or {})}"
            f"Justification: {request.justification}"
        ),
        url=_request_url(request),
    )


def apply_failed(request: EnvironmentRequest) -> bool:
    """The request failed while part or all of its environment may exist: its apply failed, or it
    was active before (a re-apply failed)."""
    if request.state != S.FAILED:
        return False
    last = _last_run_kind(request)
    return last == RunKind.APPLY or (request.activated_at is not None and last != RunKind.DESTROY)


def is_reapply(request: EnvironmentRequest) -> bool:
    """The request is re-applying an environment that was active: ending the change leaves it active."""
    return request.activated_at is not None and request.destroyed_at is None


def _last_run_kind(request: EnvironmentRequest) -> str | None:
    return request.runs.order_by("-created_at", "-id").values_list("kind", flat=True).first()


def _ids_in_chunks(queryset, size: int):
    """Primary keys of ``queryset`` in ascending chunks; never more than ``size`` in memory."""
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


# The one expiry warning comes this share of the lifetime before the end, and never earlier than the cap.
EXPIRY_WARNING_SHARE = 0.1
EXPIRY_WARNING_CAP = timedelta(hours=24)


def expiry_warn_at(activated_at, expires_at):
    """When to warn that an environment expires: 10 % of its lifetime before the end, at most 24 h before."""
    lead = min((expires_at - activated_at) * EXPIRY_WARNING_SHARE, EXPIRY_WARNING_CAP)
    return expires_at - lead
