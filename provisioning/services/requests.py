"""Requests: submit, approve, reject, cancel, retry."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from catalog.models import Entity
from portal.services import PermissionDenied, ServiceError, audit_record
from provisioning import permissions
from provisioning.models import (
    ENDED_STATES,
    Approval,
    ApprovalDecision,
    ApprovalPolicy,
    EnvironmentRequest,
    EnvironmentTemplate,
    RequestTransition,
    RunKind,
    RunStatus,
)
from provisioning.services._common import (
    NAME_RE,
    TRANSITIONS,
    IllegalTransition,
    RequestInvalid,
    S,
    _current_plan,
    _last_run_kind,
    _lock_request,
    _new_run,
    _notify_requester,
    _transition,
    apply_failed,
    is_reapply,
)
from provisioning.services.kubernetes import cluster_choose
from provisioning.services.parameters import parameters_check, split_secrets


@dataclass(frozen=True)
class _Checked:
    name: str
    justification: str
    ttl: int
    parameters: dict
    cluster: object | None


def _check(
    *, user, version, entity, team, name, justification, ttl_hours, parameters, cluster
) -> tuple[_Checked, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip() if isinstance(name, str) else ""
    if not NAME_RE.match(name):
        errors["name"] = [
            "Use 1 to 40 lower case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
        ]
    justification = (justification or "").strip() if isinstance(justification, str) else ""
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
    chosen, cluster_errors = cluster_choose(version, cluster)
    if cluster_errors:
        errors["cluster"] = cluster_errors
    parameters, parameter_errors = parameters_check(version.parameters_schema, parameters)
    errors.update(parameter_errors)
    if "name" not in errors and EnvironmentRequest.objects.filter(name=name).exclude(state__in=ENDED_STATES).exists():
        errors["name"] = [f"An environment named {name} already exists; choose another name."]
    return _Checked(name, justification, ttl, parameters, chosen), errors


def _published_version(template: EnvironmentTemplate):
    version = template.current_version
    if version is None or not template.is_active:
        raise ServiceError("This template is not published; pick another one.")
    return version


@sensitive_variables("parameters")
def request_errors(
    *,
    user,
    template: EnvironmentTemplate,
    entity: Entity | None = None,
    team: Entity | None = None,
    name: str = "",
    justification: str = "",
    ttl_hours: int | None = None,
    parameters: dict | None = None,
    cluster: str | None = None,
) -> dict[str, list[str]]:
    """Every reason ``request_submit`` would refuse these values, by field, without creating anything.

    The form calls it when some fields did not even parse, so that all errors show in one round.
    """
    _checked, errors = _check(
        user=user,
        version=_published_version(template),
        entity=entity,
        team=team,
        name=name,
        justification=justification,
        ttl_hours=ttl_hours,
        parameters=parameters or {},
        cluster=cluster,
    )
    return errors


@sensitive_variables("parameters", "checked", "shown", "secrets")
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
    cluster: str | None = None,
) -> EnvironmentRequest:
    """Validate and create a request; its plan is enqueued once the transaction commits.

    Only the parameters the template declares are accepted. Secret ones are stored encrypted
    and shown as a mask everywhere (page, approvals, API, audit, notifications). ``cluster``
    picks one of the template's clusters; without it, the first one is used.
    """
    if not permissions.can_request(user):
        raise PermissionDenied("Sign in to request environments.")
    version = _published_version(template)
    checked, errors = _check(
        user=user,
        version=version,
        entity=entity,
        team=team,
        name=name,
        justification=justification,
        ttl_hours=ttl_hours,
        parameters=parameters,
        cluster=cluster,
    )
    if errors:
        raise RequestInvalid(errors)
    shown, secrets = split_secrets(version.parameters_schema, checked.parameters)
    try:
        with transaction.atomic():
            request = EnvironmentRequest.objects.create(
                template=template,
                template_version=version,
                requester=user,
                entity=entity,
                team=team,
                name=checked.name,
                justification=checked.justification,
                parameters=shown,
                secret_parameters=secrets,
                ttl_hours=checked.ttl,
                cluster=checked.cluster,
            )
            RequestTransition.objects.create(request=request, to_state=S.SUBMITTED, actor=user)
            audit_record(
                actor=user,
                action="provisioning.request.submit",
                obj=request,
                changes={
                    "template": template.name,
                    "version": version.number,
                    "parameters": shown,
                    **({"cluster": checked.cluster.name} if checked.cluster else {}),
                },
            )
            _new_run(request, RunKind.PLAN)
    except IntegrityError:
        raise RequestInvalid({"name": [f"An environment named {checked.name} already exists; choose another name."]})
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
        _notify_requester(request, "was approved", "Terraform applies it as soon as a worker takes the run.")
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
        if is_reapply(request):
            _transition(
                request,
                S.ACTIVE,
                actor=user,
                action="reapply.reject",
                note=f"Re-apply rejected; the environment stays as it was: {comment[:2000]}",
            )
        else:
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
        if apply_failed(request) and not permissions.is_platform_admin(user):
            raise IllegalTransition(
                "The apply failed part way: some resources may exist. Destroy what was created instead of "
                "canceling, so that nothing is left behind."
            )
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
        if is_reapply(request) and request.state != S.FAILED:
            _transition(
                request,
                S.ACTIVE,
                actor=user,
                action="reapply.cancel",
                note=f"Re-apply canceled by {user.get_username()}; the environment stays as it was.",
            )
            return request
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


def request_reapply(*, user, request_id: int) -> EnvironmentRequest:
    """Re-apply the template to an active environment (after drift): plan again; the change goes
    through approval like any other, and the environment stays active if it is declined."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if not permissions.can_destroy(user, request):
            raise PermissionDenied("Only the owning team or a Platform Admin can re-apply this environment.")
        if request.state != S.ACTIVE:
            raise IllegalTransition(
                f"This request is {request.get_state_display().lower()}; only an active environment can be re-applied."
            )
        if request.runs.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists():
            raise IllegalTransition("A run of this environment is still working; wait for it to finish.")
        request.plan_summary = None
        _transition(
            request,
            S.SUBMITTED,
            actor=user,
            action="reapply",
            note=f"Re-apply requested by {user.get_username()}: Terraform plans again; the change needs approval.",
        )
        _new_run(request, RunKind.PLAN)
    return request
