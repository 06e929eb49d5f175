"""Active environments: destroy, extend, expiry sweep, drift, state locks."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.services import PermissionDenied, ServiceError, audit_record
from provisioning import permissions
from provisioning.models import (
    EnvironmentRequest,
    RequestTransition,
    Run,
    RunKind,
    RunStatus,
)
from provisioning.services._common import (
    IllegalTransition,
    RequestInvalid,
    S,
    _ids_in_chunks,
    _lock_request,
    _new_run,
    _notify_requester,
    _transition,
    apply_failed,
    expiry_warn_at,
)
from provisioning.services.runs import _finish_run

logger = logging.getLogger(__name__)


def request_destroy(*, user, request_id: int, confirm: str | None = None, reason: str = "") -> EnvironmentRequest:
    """Destroy an active environment, or what a failed apply created: one destroy run deletes the
    namespace, then runs terraform destroy.

    A person must confirm by typing the environment's name; the expiry sweep passes ``user=None``.
    """
    with transaction.atomic():
        request = _lock_request(request_id)
        if user is not None:
            if not permissions.can_destroy(user, request):
                raise PermissionDenied("Only the owning team or a Platform Admin can destroy this environment.")
            if (confirm or "").strip() != request.name:
                raise RequestInvalid({"confirm": [f"Type the environment's name ({request.name}) to confirm."]})
        if request.state == S.DESTROYING:
            raise IllegalTransition("This environment is already being destroyed.")
        if request.state != S.ACTIVE and not apply_failed(request):
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only an active environment, or one whose "
                "apply failed, can be destroyed."
            )
        who = user.get_username() if user is not None else "Bridge"
        _transition(request, S.DESTROYING, actor=user, action="destroy", note=reason or f"Destroy requested by {who}.")
        _new_run(request, RunKind.DESTROY)
    return request


def run_destroy_succeeded(*, run_id: int) -> EnvironmentRequest | None:
    with transaction.atomic():
        request = _lock_request(Run.objects.values_list("request_id", flat=True).get(pk=run_id))
        run = _finish_run(run_id, RunStatus.SUCCEEDED, exit_code=0)
        if run is None:
            return None
        request.destroyed_at = timezone.now()
        _transition(request, S.DESTROYED, action="destroy.succeed", note="Namespace deleted and Terraform destroyed.")
        _notify_requester(request, "was destroyed", "Its namespace and its Terraform resources are gone.")
    return request


def request_extend(*, user, request_id: int, hours: int, now=None) -> EnvironmentRequest:
    """Push the expiry back by ``hours``; the whole life stays within the template's maximum TTL."""
    now = now or timezone.now()
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        raise RequestInvalid({"hours": ["Extend by at least one hour."]})
    with transaction.atomic():
        request = _lock_request(request_id)
        if not permissions.can_destroy(user, request):
            raise PermissionDenied("Only the owning team or a Platform Admin can extend this environment.")
        if request.state != S.ACTIVE or request.expires_at is None:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only an active environment can be extended."
            )
        limit = request.activated_at + timedelta(hours=request.template_version.max_ttl_hours)
        wanted = max(request.expires_at, now) + timedelta(hours=hours)
        if wanted > limit:
            left = max(0, int((limit - max(request.expires_at, now)).total_seconds() // 3600))
            raise RequestInvalid(
                {
                    "hours": [
                        f"The template allows {request.template_version.max_ttl_hours} hours in all; "
                        f"you can extend by at most {left} more hour(s)."
                    ]
                }
            )
        previous = request.expires_at
        request.expires_at = wanted
        request.expiry_warn_at = expiry_warn_at(request.activated_at, wanted)
        request.expiry_warned_at = None
        request.save(update_fields=["expires_at", "expiry_warn_at", "expiry_warned_at", "updated_at"])
        note = f"Extended by {hours} h by {user.get_username()}: expires {wanted:%Y-%m-%d %H:%M} UTC."
        RequestTransition.objects.create(
            request=request, from_state=request.state, to_state=request.state, actor=user, note=note
        )
        audit_record(
            actor=user,
            action="provisioning.request.extend",
            obj=request,
            changes={"expires_at": [previous.isoformat(), wanted.isoformat()]},
        )
        if request.namespace:
            from provisioning import tasks

            transaction.on_commit(lambda: tasks.relabel_namespace.delay(request_id))
    return request


def environments_sweep(*, now=None, chunk: int = 200) -> dict[str, int]:
    """Warn once before expiry (see ``expiry_warn_at``) and destroy expired environments, in chunks of ids."""
    now = now or timezone.now()
    counts = {"warned": 0, "destroyed": 0}
    active = EnvironmentRequest.objects.filter(state=S.ACTIVE, expires_at__isnull=False)
    for ids in _ids_in_chunks(active.filter(expires_at__lte=now), chunk):
        for request_id in ids:
            try:
                request_destroy(user=None, request_id=request_id, reason="Expired: destroyed by the expiry sweep.")
                counts["destroyed"] += 1
            except ServiceError:
                logger.info("environment %s changed state before it could be destroyed", request_id)
    due = active.filter(expires_at__gt=now, expiry_warn_at__lte=now, expiry_warned_at__isnull=True)
    for ids in _ids_in_chunks(due, chunk):
        for request in EnvironmentRequest.objects.filter(pk__in=ids).select_related("requester", "template", "team"):
            with transaction.atomic():
                # Claim the warning first: two sweeps never send it twice.
                claimed = EnvironmentRequest.objects.filter(pk=request.pk, expiry_warned_at__isnull=True).update(
                    expiry_warned_at=now
                )
                if not claimed:
                    continue
                _notify_requester(
                    request,
                    "expires soon",
                    f"It expires in {_duration(request.expires_at - now)}, at {request.expires_at:%Y-%m-%d %H:%M} UTC. "
                    "Extend it from its page if you still need it.",
                )
                counts["warned"] += 1
    return counts


def _duration(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def drift_record(*, request_id: int, kubernetes: list[str], terraform: str, terraform_detail: str = "") -> None:
    """Store the outcome of a drift check (Kubernetes differences and the Terraform plan's verdict)."""
    drifted = bool(kubernetes) or terraform == "changes"
    EnvironmentRequest.objects.filter(pk=request_id).update(
        drift={"kubernetes": kubernetes[:200], "terraform": terraform, "terraform_detail": terraform_detail[:5000]},
        drift_checked_at=timezone.now(),
        is_drifted=drifted,
    )


def request_drift_check(*, user, request_id: int) -> None:
    """Ask a worker to check the environment for drift now."""
    request = EnvironmentRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise ServiceError("No such request.")
    if not permissions.can_destroy(user, request) and not permissions.is_approver(user):
        raise PermissionDenied("Only the owning team, approvers and Platform Admins check drift.")
    if request.state != S.ACTIVE:
        raise IllegalTransition("Only an active environment can be checked for drift.")
    from provisioning import tasks

    audit_record(actor=user, action="provisioning.request.drift-check", obj=request)
    transaction.on_commit(lambda: tasks.check_drift.delay(request_id))


def request_release_lock(*, user, request_id: int, lock_id: str, confirm: bool) -> str:
    """Platform Admins: release a Terraform state lock left behind, once they confirm no process holds it."""
    from provisioning import runs

    if not permissions.is_platform_admin(user):
        raise PermissionDenied("Only Platform Admins release Terraform state locks.")
    if not confirm:
        raise RequestInvalid({"confirm": ["Confirm that no Terraform process holds this lock."]})
    request = EnvironmentRequest.objects.select_related("template_version").filter(pk=request_id).first()
    if request is None:
        raise ServiceError("No such request.")
    if request.runs.filter(status=RunStatus.RUNNING).exists():
        raise IllegalTransition("A run of this environment is running: its Terraform holds the lock.")
    lock = runs.state_lock(request)
    if lock is None or lock["id"] != lock_id:
        raise IllegalTransition("This lock is no longer held; reload the page.")
    ok, output = runs.release_state_lock(request, lock_id)
    audit_record(
        actor=user,
        action="provisioning.request.release-lock",
        obj=request,
        changes={"lock_id": lock_id, "released": ok, **({"output": output[:500]} if not ok else {})},
    )
    if not ok:
        raise ServiceError(f"terraform force-unlock failed: {output}")
    return f"Lock {lock_id} released."
