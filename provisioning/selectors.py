"""Reads of provisioning data, bounded and with their related rows fetched up front."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from provisioning import permissions
from provisioning.models import (
    Approval,
    ApprovalDecision,
    EnvironmentRequest,
    EnvironmentTemplate,
    RequestState,
    Run,
    RunKind,
    RunLogLine,
)

LOG_PAGE = 1000


def templates_published() -> QuerySet[EnvironmentTemplate]:
    return (
        EnvironmentTemplate.objects.filter(is_active=True, current_version__isnull=False)
        .select_related("current_version", "current_version__owner_team")
        .order_by("name")
    )


def templates_with_problems() -> QuerySet[EnvironmentTemplate]:
    return EnvironmentTemplate.objects.exclude(last_load_error="").select_related("current_version").order_by("name")


def requests_of(user) -> QuerySet[EnvironmentRequest]:
    """Requests the user made or that belong to one of their teams, newest first."""
    teams = permissions.team_ids(user)
    return (
        EnvironmentRequest.objects.filter(Q(requester=user) | Q(team_id__in=teams))
        .select_related("template", "template_version", "requester", "entity", "team")
        .order_by("-created_at", "-id")
    )


def requests_visible_to(user) -> QuerySet[EnvironmentRequest]:
    if permissions.is_approver(user):
        qs = EnvironmentRequest.objects.all()
    else:
        qs = EnvironmentRequest.objects.filter(Q(requester=user) | Q(team_id__in=permissions.team_ids(user)))
    return qs.select_related("template", "template_version", "requester", "entity", "team").order_by(
        "-created_at", "-id"
    )


def approvals_for(user) -> QuerySet[EnvironmentRequest]:
    """Requests waiting for this approver, oldest first: not their own, not already approved by them."""
    if not permissions.is_approver(user):
        return EnvironmentRequest.objects.none()
    latest_plan = Run.objects.filter(request=OuterRef("pk"), kind=RunKind.PLAN).order_by("-created_at", "-id")
    qs = (
        EnvironmentRequest.objects.filter(state=RequestState.AWAITING_APPROVAL)
        .exclude(requester=user)
        .annotate(latest_plan_id=Subquery(latest_plan.values("pk")[:1]))
        .exclude(Exists(Approval.objects.filter(plan_run_id=OuterRef("latest_plan_id"), approver=user)))
    )
    if not permissions.is_platform_admin(user):
        qs = qs.filter(template_version__approval_group__in=list(user.groups.values_list("name", flat=True)))
    return qs.select_related("template", "template_version", "requester", "entity", "team", "cluster").order_by(
        "created_at", "id"
    )


def approval_count(request: EnvironmentRequest) -> int:
    plan = request.runs.filter(kind=RunKind.PLAN).order_by("-created_at", "-id").first()
    if plan is None:
        return 0
    return Approval.objects.filter(plan_run=plan, decision=ApprovalDecision.APPROVE).count()


def request_detail(pk: int) -> EnvironmentRequest | None:
    return (
        EnvironmentRequest.objects.select_related(
            "template", "template_version", "requester", "entity", "team", "cluster"
        )
        .filter(pk=pk)
        .first()
    )


def request_for_log(pk: int) -> EnvironmentRequest | None:
    """Just what the log poll needs (it runs every second per viewer): no joins."""
    return EnvironmentRequest.objects.only("pk", "requester_id", "team_id", "state").filter(pk=pk).first()


def runs_of(request: EnvironmentRequest) -> list[Run]:
    return list(request.runs.order_by("created_at", "id")[:100])


def latest_run(request: EnvironmentRequest) -> Run | None:
    return request.runs.order_by("-created_at", "-id").first()


def log_lines(run: Run, *, after: int = 0, limit: int = LOG_PAGE) -> list[RunLogLine]:
    """Lines numbered above ``after``, in order; an index on (run, number) makes this constant-time."""
    return list(RunLogLine.objects.filter(run=run, number__gt=after).order_by("number").only("number", "text")[:limit])


def drifted_visible_to(user) -> QuerySet[EnvironmentRequest]:
    """Active environments whose last drift check found differences, that the user may see."""
    return requests_visible_to(user).filter(state=RequestState.ACTIVE, is_drifted=True).select_related("cluster")


def run_waiting_for_broker(request_id: int) -> Run | None:
    """The request's queued run that could not be handed to the broker yet (the relay will), if any."""
    return (
        Run.objects.filter(request_id=request_id, status="queued", dispatched_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
