"""Every state transition of a request (and of its runs) goes through here.

Each transition is one function: it locks the request row, checks that the
move is legal from the current state, changes it, writes a timeline entry and
an audit event, and enqueues work after the transaction commits. The lock
order is always request, then run, so two transitions never deadlock.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from catalog.models import Entity
from portal.models import NotificationEvent
from portal.services import PermissionDenied, ServiceError, audit_record, notify
from provisioning import library, permissions
from provisioning.models import (
    ENDED_STATES,
    Approval,
    ApprovalDecision,
    ApprovalPolicy,
    EnvironmentRequest,
    EnvironmentTemplate,
    RequestState,
    RequestTransition,
    Run,
    RunKind,
    RunLogLine,
    RunStatus,
    TemplateVersion,
)

logger = logging.getLogger(__name__)

S = RequestState

# The legal moves. The next issue adds ACTIVE → DESTROYING → DESTROYED.
TRANSITIONS: dict[str, set[str]] = {
    S.SUBMITTED: {S.PLANNING, S.CANCELED, S.FAILED},
    S.PLANNING: {S.AWAITING_APPROVAL, S.APPROVED, S.FAILED, S.CANCELED},
    S.AWAITING_APPROVAL: {S.APPROVED, S.REJECTED, S.CANCELED},
    S.APPROVED: {S.APPLYING, S.CANCELED, S.FAILED},
    S.APPLYING: {S.ACTIVE, S.FAILED},
    S.FAILED: {S.SUBMITTED, S.CANCELED},
    S.ACTIVE: set(),
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


# --- helpers ---------------------------------------------------------------------------


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
        update_fields=["state", "failure_reason", "updated_at", "activated_at", "expires_at", "plan_summary", "outputs"]
    )
    RequestTransition.objects.create(request=request, from_state=previous, to_state=to, actor=actor, note=note)
    audit_record(
        actor=actor,
        action=f"provisioning.request.{action}",
        obj=request,
        changes={"state": [previous, to], **({"note": note} if note else {})},
    )


def _enqueue_run(run: Run) -> None:
    from provisioning import tasks

    transaction.on_commit(lambda: tasks.execute_run.delay(run.pk))


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
}


def _notify_requester(request: EnvironmentRequest, what: str, detail: str = "") -> None:
    notify(
        users=[request.requester],
        event=REQUESTER_EVENTS[what],
        title=f"Your environment {request.name} {what}",
        body=f"Your request for {request.name} ({request.template.name}) {what}.\n{detail}".strip(),
        url=_request_url(request),
    )


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
            f"{summary.get('destroy', 0)} to destroy.\nJustification: {request.justification}"
        ),
        url=_request_url(request),
    )


# --- templates -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    name: str
    status: str  # created, updated, unchanged, rejected
    version: int | None
    message: str = ""


def template_publish(*, parsed: library.ParsedTemplate, actor=None) -> LoadResult:
    """Create the template or a new version of it, unless the content is unchanged."""
    with transaction.atomic():
        template, created = EnvironmentTemplate.objects.select_for_update().get_or_create(name=parsed.name)
        template.source_path = parsed.source_path
        template.last_load_error = ""
        template.last_loaded_at = timezone.now()
        current = template.current_version
        if current is not None and current.digest == parsed.digest:
            template.save(update_fields=["source_path", "last_load_error", "last_loaded_at"])
            return LoadResult(parsed.name, "unchanged", current.number, "; ".join(parsed.notes))
        d = parsed.descriptor
        approval = parsed.approval
        owner_ref = d.get("owner", "")
        owner_team = None
        if owner_ref:
            ref = owner_ref.split(":", 1)[-1]
            namespace, _, name = ref.rpartition("/")
            owner_team = Entity.objects.filter(
                kind__iexact="group", namespace__iexact=namespace or "default", name__iexact=name
            ).first()
        number = (template.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = TemplateVersion.objects.create(
            template=template,
            number=number,
            digest=parsed.digest,
            title=d["title"],
            description=d.get("description", "").strip(),
            environment_type=d["environmentType"],
            owner_ref=owner_ref,
            owner_team=owner_team,
            parameters_schema=d["parameters"],
            approval_policy=approval["policy"],
            approval_group="" if approval["policy"] == ApprovalPolicy.AUTO else approval["group"],
            approvals_required=approval["count"],
            default_ttl_hours=d["ttl"]["defaultHours"],
            max_ttl_hours=d["ttl"]["maxHours"],
            kubernetes=d.get("kubernetes", {}),
            descriptor=d,
            files=parsed.files,
        )
        template.current_version = version
        template.save()
        audit_record(
            actor=actor,
            action="provisioning.template.publish",
            obj=template,
            changes={"version": number, "digest": parsed.digest},
        )
        return LoadResult(parsed.name, "created" if created else "updated", number, "; ".join(parsed.notes))


def template_reject(*, name: str, source_path: str, reason: str, actor=None) -> LoadResult:
    """Record why a template could not be loaded; its working version stays published."""
    with transaction.atomic():
        # A new template that fails is recorded too (without a version), so admins see why.
        template, _ = EnvironmentTemplate.objects.select_for_update().get_or_create(
            name=name[:63], defaults={"source_path": source_path}
        )
        template.last_load_error = reason
        template.last_loaded_at = timezone.now()
        template.save(update_fields=["last_load_error", "last_loaded_at"])
        audit_record(
            actor=actor,
            action="provisioning.template.reject",
            obj=template,
            changes={"name": name, "source": source_path, "reason": reason},
        )
    current = template.current_version.number if template.current_version_id else None
    return LoadResult(name, "rejected", current, reason)


def templates_reload(*, actor=None, directory=None) -> list[LoadResult]:
    """Load every template directory; each is validated and published or rejected on its own."""
    import yaml

    root = directory or settings.PROVISIONING_TEMPLATES_DIR
    results = []
    for path in library.template_directories(root):
        try:
            parsed = library.read_template(path)
        except library.TemplateProblem as exc:
            # Name the template as its descriptor does if we can read that far, else its directory.
            try:
                name = str((yaml.safe_load((path / library.DESCRIPTOR_NAME).read_text()) or {}).get("name") or "")
            except Exception:
                name = ""
            if not re.match(r"^[a-z0-9][-a-z0-9]{0,62}$", name):
                name = path.name[:63]
            results.append(template_reject(name=str(name), source_path=str(path), reason=str(exc), actor=actor))
            continue
        results.append(template_publish(parsed=parsed, actor=actor))
    return results


# --- requests --------------------------------------------------------------------------


def _schema_errors(schema: dict, parameters: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(parameters):
        if error.validator == "required":
            field = error.message.split("'")[1] if "'" in error.message else "parameters"
            message = "This field is required."
        elif error.validator == "additionalProperties":
            field, message = "parameters", error.message
        else:
            field = str(error.absolute_path[0]) if error.absolute_path else "parameters"
            prop = schema.get("properties", {}).get(field, {})
            if error.validator == "pattern":
                message = (
                    prop.get("x-ui", {}).get("patternMessage") or f"Must match the pattern {error.validator_value}."
                )
            elif error.validator == "enum":
                message = "Choose one of: " + ", ".join(str(v) for v in error.validator_value) + "."
            else:
                message = error.message[:300]
        errors.setdefault(field, []).append(message)
    return errors


def _with_defaults(schema: dict, parameters: dict) -> dict:
    filled = dict(parameters)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled


def request_submit(
    *,
    user,
    template: EnvironmentTemplate,
    entity: Entity | None,
    team: Entity | None,
    name: str,
    justification: str,
    ttl_hours: int | None,
    parameters: dict,
) -> EnvironmentRequest:
    """Validate and create a request; its plan is enqueued once the transaction commits."""
    if not permissions.can_request(user):
        raise PermissionDenied("Sign in to request environments.")
    version = template.current_version
    if version is None or not template.is_active:
        raise ServiceError("This template is not published; pick another one.")
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not NAME_RE.match(name):
        errors["name"] = [
            "Use 1 to 40 lower case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
        ]
    justification = (justification or "").strip()
    if not justification:
        errors["justification"] = ["Say why you need this environment; approvers read it."]
    elif len(justification) > 2000:
        errors["justification"] = ["Keep the justification under 2,000 characters."]
    ttl = version.default_ttl_hours if ttl_hours in (None, "") else ttl_hours
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= version.max_ttl_hours:
        errors["ttl_hours"] = [f"Choose between 1 and {version.max_ttl_hours} hours."]
    if entity is not None and entity.kind.lower() in ("group", "user", "location"):
        errors["entity"] = ["Pick a component, system, API or resource, not a team or a person."]
    if team is not None and team.pk not in set(permissions.team_ids(user)) and not permissions.is_platform_admin(user):
        errors["team"] = ["Pick one of your own teams."]
    if not isinstance(parameters, dict):
        errors["parameters"] = ["Parameters must be an object."]
        parameters = {}
    parameters = _with_defaults(version.parameters_schema, parameters)
    errors.update(_schema_errors(version.parameters_schema, parameters))
    if "name" not in errors and EnvironmentRequest.objects.filter(name=name).exclude(state__in=ENDED_STATES).exists():
        errors["name"] = [f"An environment named {name} already exists; choose another name."]
    if errors:
        raise RequestInvalid(errors)
    try:
        with transaction.atomic():
            request = EnvironmentRequest.objects.create(
                template=template,
                template_version=version,
                requester=user,
                entity=entity,
                team=team,
                name=name,
                justification=justification,
                parameters=parameters,
                ttl_hours=ttl,
            )
            RequestTransition.objects.create(request=request, to_state=S.SUBMITTED, actor=user)
            audit_record(
                actor=user,
                action="provisioning.request.submit",
                obj=request,
                changes={"template": template.name, "version": version.number, "parameters": parameters},
            )
            _new_run(request, RunKind.PLAN)
    except IntegrityError:
        raise RequestInvalid({"name": [f"An environment named {name} already exists; choose another name."]})
    return request


def request_approve(*, user, request_id: int, comment: str = "") -> EnvironmentRequest:
    """Record an approval; the last one the policy needs approves the request and enqueues its apply."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.requester_id == user.pk:
            raise PermissionDenied("You cannot approve your own request.")
        if not permissions.can_approve(user, request):
            raise PermissionDenied("Only members of the template's approval group can approve this request.")
        if request.state in (S.APPROVED, S.APPLYING, S.ACTIVE):
            raise IllegalTransition("This request is already approved.")
        if request.state != S.AWAITING_APPROVAL:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only a request awaiting approval "
                "can be approved."
            )
        plan = _current_plan(request)
        if Approval.objects.filter(plan_run=plan, approver=user).exists():
            raise IllegalTransition("You have already approved this request; it needs another approver.")
        Approval.objects.create(
            request=request, plan_run=plan, approver=user, decision=ApprovalDecision.APPROVE, comment=comment[:2000]
        )
        version = request.template_version
        needed = version.approvals_required if version.approval_policy == ApprovalPolicy.DISTINCT else 1
        count = Approval.objects.filter(plan_run=plan, decision=ApprovalDecision.APPROVE).count()
        if count < needed:
            RequestTransition.objects.create(
                request=request,
                from_state=request.state,
                to_state=request.state,
                actor=user,
                note=f"Approved by {user.get_username()} ({count} of {needed}).",
            )
            audit_record(
                actor=user,
                action="provisioning.request.approval",
                obj=request,
                changes={"approvals": count, "needed": needed},
            )
            return request
        _transition(
            request,
            S.APPROVED,
            actor=user,
            action="approve",
            note=f"Approved by {user.get_username()}" + (f": {comment}" if comment else ""),
        )
        _new_run(request, RunKind.APPLY)
        _notify_requester(request, "was approved", "Terraform is applying it now.")
    return request


def request_reject(*, user, request_id: int, comment: str) -> EnvironmentRequest:
    comment = (comment or "").strip()
    if not comment:
        raise RequestInvalid({"comment": ["Say why you reject the request; the requester reads it."]})
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.requester_id == user.pk:
            raise PermissionDenied("You cannot decide on your own request; cancel it instead.")
        if not permissions.can_approve(user, request):
            raise PermissionDenied("Only members of the template's approval group can reject this request.")
        if request.state == S.REJECTED:
            raise IllegalTransition("This request is already rejected.")
        if request.state != S.AWAITING_APPROVAL:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only a request awaiting approval "
                "can be rejected."
            )
        Approval.objects.create(
            request=request,
            plan_run=_current_plan(request),
            approver=user,
            decision=ApprovalDecision.REJECT,
            comment=comment[:2000],
        )
        _transition(request, S.REJECTED, actor=user, action="reject", note=comment[:2000])
        _notify_requester(request, "was rejected", f"{user.get_username()}: {comment}")
    return request


def request_cancel(*, user, request_id: int) -> EnvironmentRequest:
    """Cancel a request. A queued run is canceled at once; a running one is interrupted first."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if not permissions.can_cancel(user, request):
            raise PermissionDenied("Only the requester, their team or a Platform Admin can cancel this request.")
        if request.state == S.CANCELED:
            raise IllegalTransition("This request is already canceled.")
        running = request.runs.select_for_update().filter(status=RunStatus.RUNNING).first()
        if running is not None:
            if not running.cancel_requested:
                running.cancel_requested = True
                running.save(update_fields=["cancel_requested"])
                RequestTransition.objects.create(
                    request=request,
                    from_state=request.state,
                    to_state=request.state,
                    actor=user,
                    note="Cancel requested: Terraform is being interrupted.",
                )
                audit_record(actor=user, action="provisioning.run.cancel", obj=running)
            return request
        if S.CANCELED not in TRANSITIONS[request.state]:
            raise IllegalTransition(f"This request is {request.get_state_display().lower()}; it cannot be canceled.")
        request.runs.filter(status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELED, finished_at=timezone.now(), error="Canceled before it started."
        )
        _transition(request, S.CANCELED, actor=user, action="cancel", note=f"Canceled by {user.get_username()}.")
    return request


def request_retry(*, user, request_id: int) -> EnvironmentRequest:
    """Plan a failed request again (a new plan needs new approvals)."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if not permissions.can_cancel(user, request):
            raise PermissionDenied("Only the requester, their team or a Platform Admin can retry this request.")
        if request.state != S.FAILED:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only a failed request can be retried."
            )
        request.failure_reason = ""
        request.plan_summary = None
        _transition(request, S.SUBMITTED, actor=user, action="retry", note=f"Retried by {user.get_username()}.")
        _new_run(request, RunKind.PLAN)
    return request


# --- runs (called by the worker) --------------------------------------------------------


def run_claim(*, run_id: int, worker: str, pid: int | None = None) -> Run | None:
    """Claim a queued run for this worker; None if it is not queued (a redelivery, a cancel)."""
    with transaction.atomic():
        request_id = Run.objects.filter(pk=run_id).values_list("request_id", flat=True).first()
        if request_id is None:
            return None
        request = _lock_request(request_id)
        now = timezone.now()
        claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200], pid=pid
        )
        if not claimed:
            return None
        run = Run.objects.get(pk=run_id)
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


def run_apply_succeeded(*, run_id: int, outputs: dict) -> EnvironmentRequest | None:
    """Store the (masked) outputs; the environment is active."""
    with transaction.atomic():
        request = _lock_request(Run.objects.values_list("request_id", flat=True).get(pk=run_id))
        run = _finish_run(run_id, RunStatus.SUCCEEDED, exit_code=0)
        if run is None:
            return None
        now = timezone.now()
        request.outputs = outputs
        request.activated_at = now
        request.expires_at = now + timedelta(hours=request.ttl_hours)
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
            _transition(request, S.CANCELED, action="cancel", note=reason)
            return True
        request.failure_reason = reason[:5000]
        _transition(request, S.FAILED, action=f"{run.kind}.fail", note=reason[:500])
        _notify_requester(request, "failed", reason[:2000])
    return True


def runs_reap_dead(*, now=None) -> int:
    """Mark failed every running run whose worker has sent no heartbeat for a while."""
    now = now or timezone.now()
    limit = settings.PROVISIONING_DEAD_RUN_SECONDS
    cutoff = now - timedelta(seconds=limit)
    reaped = 0
    for run_id, worker in Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
        "pk", "worker"
    )[:500]:
        reason = (
            f"The worker running this {worker and 'run (' + worker + ')' or 'run'} stopped responding: "
            f"no heartbeat for {limit // 60 or 1} minute(s). It probably died. Retry the request; if Terraform "
            "reports a state lock, ask a Platform Admin to check it."
        )
        if run_fail(run_id=run_id, reason=reason):
            reaped += 1
    return reaped


def log_append(*, run_id: int, first_number: int, lines: list[str]) -> int:
    """Store lines numbered from ``first_number``; returns the last number stored."""
    if not lines:
        return first_number - 1
    RunLogLine.objects.bulk_create(
        [RunLogLine(run_id=run_id, number=first_number + i, text=text[:10000]) for i, text in enumerate(lines)]
    )
    last = first_number + len(lines) - 1
    Run.objects.filter(pk=run_id).update(line_count=last)
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
