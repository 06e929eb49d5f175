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

# The legal moves.
TRANSITIONS: dict[str, set[str]] = {
    S.SUBMITTED: {S.PLANNING, S.CANCELED, S.FAILED},
    S.PLANNING: {S.AWAITING_APPROVAL, S.APPROVED, S.FAILED, S.CANCELED},
    S.AWAITING_APPROVAL: {S.APPROVED, S.REJECTED, S.CANCELED},
    S.APPROVED: {S.APPLYING, S.CANCELED, S.FAILED},
    S.APPLYING: {S.ACTIVE, S.FAILED},
    S.FAILED: {S.SUBMITTED, S.CANCELED, S.DESTROYING},
    S.ACTIVE: {S.DESTROYING},
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
        update_fields=[
            "state",
            "failure_reason",
            "updated_at",
            "activated_at",
            "expires_at",
            "plan_summary",
            "outputs",
            "cluster",
            "namespace",
            "kubernetes_state",
            "kubernetes_note",
            "destroyed_at",
        ]
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
    from portal import safe_yaml

    root = directory or settings.PROVISIONING_TEMPLATES_DIR
    results = []
    for path in library.template_directories(root):
        try:
            parsed = library.read_template(path)
        except library.TemplateProblem as exc:
            # Name the template as its descriptor does if we can read that far, else its directory.
            try:
                text = (path / library.DESCRIPTOR_NAME).read_text()
                name = str((safe_yaml.load(text, name=library.DESCRIPTOR_NAME) or {}).get("name") or "")
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
        if request.state == S.FAILED and _last_run_kind(request) == RunKind.DESTROY:
            raise IllegalTransition("This environment's destroy failed; retry the destroy instead of canceling.")
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
        if _last_run_kind(request) == RunKind.DESTROY:
            _transition(
                request,
                S.DESTROYING,
                actor=user,
                action="destroy.retry",
                note=f"Destroy retried by {user.get_username()}.",
            )
            _new_run(request, RunKind.DESTROY)
            return request
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


# --- Kubernetes -----------------------------------------------------------------------


@dataclass(frozen=True)
class KubernetesOutcome:
    """What the Kubernetes step of an apply did: applied, skipped (with the reason) or failed."""

    state: str
    note: str
    cluster_id: int | None = None
    namespace: str = ""


class KubernetesSkipped(Exception):
    """The Kubernetes step does not apply to this environment; the message says why."""


def _last_run_kind(request: EnvironmentRequest) -> str | None:
    return request.runs.order_by("-created_at", "-id").values_list("kind", flat=True).first()


def cluster_for(version: TemplateVersion):
    """The first active registered cluster the template names, or KubernetesSkipped with the reason."""
    from provisioning.models import Cluster

    section = version.kubernetes or {}
    if not section:
        raise KubernetesSkipped("the template has no kubernetes section")
    names = section.get("clusters") or []
    if not names:
        raise KubernetesSkipped("the template names no cluster (kubernetes.clusters)")
    clusters = {c.name: c for c in Cluster.objects.filter(name__in=names, is_active=True)}
    for name in names:
        if name in clusters:
            return clusters[name]
    raise KubernetesSkipped(
        f"no cluster configured: none of the template's clusters ({', '.join(names)}) is registered and active"
    )


def namespace_name(request: EnvironmentRequest, cluster) -> str:
    prefix = (cluster.namespace_prefix or "") + ((request.template_version.kubernetes or {}).get("namespacePrefix", ""))
    return f"{prefix}{request.name}"[:63].rstrip("-")


def substitution_values(request: EnvironmentRequest, namespace: str) -> dict:
    """Values a manifest's ${placeholders} may use: parameters, built-ins and non-sensitive outputs."""
    values = dict(request.parameters or {})
    values.update(
        {
            "environment_name": request.name,
            "request_id": request.pk,
            "namespace": namespace,
            "owner_team": request.team.name if request.team_id else "",
        }
    )
    for name, output in (request.outputs or {}).items():
        if isinstance(output, dict) and not output.get("sensitive"):
            values[f"outputs.{name}"] = output.get("value")
    return values


def environment_objects(request: EnvironmentRequest, cluster, *, with_expiry: bool = True):
    """The namespace and objects Bridge applies for the environment (raises SubstitutionError)."""
    from provisioning import kubernetes as kube

    section = request.template_version.kubernetes or {}
    namespace = namespace_name(request, cluster)
    values = substitution_values(request, namespace)
    labels = {
        "bridge.dev/environment": str(request.pk),
        "bridge.dev/template": request.template.name,
        "bridge.dev/team": (request.team.name if request.team_id else "none")[:63],
    }
    if with_expiry and request.expires_at:
        labels["bridge.dev/expires"] = f"{request.expires_at:%Y-%m-%dT%H%MZ}"
    return kube.EnvironmentObjects(
        namespace=namespace,
        labels=labels,
        quota={str(k): str(v) for k, v in (section.get("quota") or {}).items()},
        limits=kube.substitute(section.get("limits") or [], values),
        team_group=request.team.name if request.team_id else "",
        team_role=section.get("role", ""),
        manifests=kube.substitute(section.get("manifests") or [], values),
    )


def cluster_test(*, user, cluster_id: int) -> tuple[bool, str]:
    """Platform Admins: reach the cluster; (True, server version) or (False, the exact error)."""
    from provisioning import kubernetes as kube
    from provisioning.models import Cluster

    if not permissions.is_platform_admin(user):
        raise PermissionDenied("Only Platform Admins test cluster connections.")
    cluster = Cluster.objects.get(pk=cluster_id)
    try:
        ok, result = True, f"Connected: Kubernetes {kube.server_version(cluster.connection())}"
    except kube.ClusterError as exc:
        ok, result = False, f"Failed: {exc}"
    Cluster.objects.filter(pk=cluster_id).update(last_checked_at=timezone.now(), last_check_result=result[:2000])
    audit_record(actor=user, action="provisioning.cluster.test", obj=cluster, changes={"result": result[:500]})
    return ok, result


# --- lifecycle ------------------------------------------------------------------------


def request_destroy(*, user, request_id: int, confirm: str | None = None, reason: str = "") -> EnvironmentRequest:
    """Destroy an active environment: one destroy run deletes the namespace, then runs terraform destroy.

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
        if request.state != S.ACTIVE:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only an active environment can be destroyed."
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
        request.warned_24h_at = request.warned_1h_at = None
        request.save(update_fields=["expires_at", "warned_24h_at", "warned_1h_at", "updated_at"])
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


# The 1-hour warning first: an environment that is already that close gets it alone.
EXPIRY_WARNINGS = (("warned_1h_at", timedelta(hours=1), "1 hour"), ("warned_24h_at", timedelta(hours=24), "24 hours"))


def _ids_in_chunks(queryset, size: int):
    """Primary keys of ``queryset`` in ascending chunks; never more than ``size`` in memory."""
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def environments_sweep(*, now=None, chunk: int = 200) -> dict[str, int]:
    """Warn before expiry (once per threshold) and destroy expired environments, in chunks of ids."""
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
    for field_name, before, label in EXPIRY_WARNINGS:
        due = active.filter(expires_at__gt=now, expires_at__lte=now + before, **{f"{field_name}__isnull": True})
        for ids in _ids_in_chunks(due, chunk):
            for request in EnvironmentRequest.objects.filter(pk__in=ids).select_related(
                "requester", "template", "team"
            ):
                with transaction.atomic():
                    # Claim the warning first: two sweeps never send it twice.
                    claimed = EnvironmentRequest.objects.filter(
                        pk=request.pk, **{f"{field_name}__isnull": True}
                    ).update(**{field_name: now})
                    if not claimed:
                        continue
                    if field_name == "warned_1h_at":
                        # A 1-hour warning makes the 24-hour one moot.
                        EnvironmentRequest.objects.filter(pk=request.pk, warned_24h_at__isnull=True).update(
                            warned_24h_at=now
                        )
                    _notify_requester(
                        request,
                        "expires soon",
                        f"It expires in less than {label}, at {request.expires_at:%Y-%m-%d %H:%M} UTC. "
                        "Extend it from its page if you still need it.",
                    )
                    counts["warned"] += 1
    return counts


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
