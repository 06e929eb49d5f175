"""Reads of pipelines: dashboards, statistics and DORA metrics. Every query is bounded."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Entity, Kind
from pipelines.models import (
    Branch,
    Deployment,
    DeploymentStatus,
    Incident,
    Pipeline,
    Provider,
    Repository,
    Run,
    RunStatus,
)

ANNOTATIONS = {"github.com/project-slug": Provider.GITHUB, "gitlab.com/project-slug": Provider.GITLAB}


# --- scopes: which repositories belong to an entity or a team -------------------------


def _slug_query(entities) -> Q:
    query = Q(pk__in=[])
    for entity in entities:
        annotations = entity.annotations if isinstance(entity.annotations, dict) else {}
        for key, provider in ANNOTATIONS.items():
            slug = annotations.get(key)
            if isinstance(slug, str) and slug.strip():
                query |= Q(provider__in=[provider, Provider.GENERIC], slug__iexact=slug.strip())
    return query


def repositories_for_entities(entities) -> QuerySet[Repository]:
    """Repositories linked to the entities, or named by their ``*/project-slug`` annotations."""
    entities = list(entities)
    return Repository.objects.filter(
        Q(entity__in=entities) | (_slug_query(entities) & Q(linked_manually=False))
    ).distinct()


def team_entities(team: Entity) -> QuerySet[Entity]:
    """The entities whose ``spec.owner`` names the team (``name``, ``group:name`` or ``group:ns/name``)."""
    name, ns = team.name, team.namespace
    refs = {name, f"group:{name}", f"group:{ns}/{name}", f"Group:{name}", f"Group:{ns}/{name}"}
    refs |= {ref.lower() for ref in refs}
    return Entity.objects.filter(spec__owner__in=sorted(refs)).exclude(kind__in=[Kind.GROUP, Kind.USER])


# --- lists ---------------------------------------------------------------------------


def pipelines_overview() -> QuerySet[Pipeline]:
    """Failing default branches first, then running, then the most recent."""
    return Pipeline.objects.select_related(
        "repository", "repository__entity", "last_run", "default_branch_run"
    ).order_by("attention", "-last_activity_at", "pk")


def recent_failures(limit: int = 5) -> list[Run]:
    return list(
        Run.objects.filter(status=RunStatus.FAILED)
        .select_related("pipeline__repository")
        .order_by("-finished_at", "-pk")[:limit]
    )


def runs_for(repositories, limit: int = 20) -> list[Run]:
    return list(
        Run.objects.filter(pipeline__repository__in=repositories)
        .select_related("pipeline__repository")
        .order_by("-created_at", "-pk")[:limit]
    )


def branches_for(repositories, limit: int = 100) -> list[Branch]:
    return list(
        Branch.objects.filter(pipeline__repository__in=repositories)
        .select_related("pipeline__repository", "last_run")
        .order_by("-last_run__created_at")[:limit]
    )


def run_detail(run_id: int) -> Run | None:
    return Run.objects.select_related("pipeline__repository__entity").prefetch_related("jobs").filter(pk=run_id).first()


def unmatched_repositories() -> QuerySet[Repository]:
    return Repository.objects.filter(entity__isnull=True).order_by("provider", "slug")


# --- statistics ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunStats:
    days: int
    finished: int
    succeeded: int
    median_duration: float | None

    @property
    def success_rate(self) -> float | None:
        return (self.succeeded / self.finished) if self.finished else None


def run_stats(repositories, days: int, now: datetime | None = None) -> RunStats:
    since = (now or timezone.now()) - timedelta(days=days)
    runs = Run.objects.filter(
        pipeline__repository__in=repositories,
        finished_at__gte=since,
        status__in=[RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED],
    )
    counts = runs.aggregate(finished=Count("pk"), succeeded=Count("pk", filter=Q(status=RunStatus.SUCCESS)))
    durations = list(
        runs.filter(duration_seconds__isnull=False).order_by().values_list("duration_seconds", flat=True)[:50000]
    )
    return RunStats(
        days=days,
        finished=counts["finished"],
        succeeded=counts["succeeded"],
        median_duration=statistics.median(durations) if durations else None,
    )


def daily_series(repositories, days: int = 30, now: datetime | None = None) -> list[dict]:
    """Per day: successes, failures and the average duration of finished runs (for the trend charts)."""
    now = now or timezone.now()
    start = (now - timedelta(days=days - 1)).date()
    rows = (
        Run.objects.filter(
            pipeline__repository__in=repositories,
            finished_at__date__gte=start,
            status__in=[RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED],
        )
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            success=Count("pk", filter=Q(status=RunStatus.SUCCESS)),
            failed=Count("pk", filter=~Q(status=RunStatus.SUCCESS)),
            avg=Avg("duration_seconds"),
        )
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        row = by_day.get(day, {})
        series.append(
            {"day": day, "success": row.get("success", 0), "failed": row.get("failed", 0), "avg": row.get("avg")}
        )
    return series


# --- DORA ----------------------------------------------------------------------------

BANDS = ("elite", "high", "medium", "low")
DAY = 86400.0


def band_deployment_frequency(per_day: float | None) -> str | None:
    if per_day is None:
        return None
    if per_day >= 1:
        return "elite"  # on demand: daily or more often
    if per_day >= 1 / 7:
        return "high"  # between once per day and once per week
    if per_day >= 1 / 30:
        return "medium"  # between once per week and once per month
    return "low"


def band_lead_time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < DAY:
        return "elite"
    if seconds <= 7 * DAY:
        return "high"
    if seconds <= 30 * DAY:
        return "medium"
    return "low"


def band_change_fail_rate(rate: float | None) -> str | None:
    if rate is None:
        return None
    if rate <= 0.05:
        return "elite"
    if rate <= 0.10:
        return "high"
    if rate <= 0.15:
        return "medium"
    return "low"


def band_recovery_time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 3600:
        return "elite"
    if seconds < DAY:
        return "high"
    if seconds <= 7 * DAY:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    value: float | None
    band: str | None
    previous: float | None
    higher_is_better: bool
    count: int

    @property
    def trend(self) -> str | None:
        """``better``, ``worse`` or ``same`` compared with the window before."""
        if self.value is None or self.previous is None:
            return None
        if self.value == self.previous:
            return "same"
        return "better" if (self.value > self.previous) == self.higher_is_better else "worse"


def _dora_window(repositories, start: datetime, end: datetime) -> dict:
    deployments = list(
        Deployment.objects.filter(
            repository__in=repositories,
            is_production=True,
            finished_at__gte=start,
            finished_at__lt=end,
            status__in=[DeploymentStatus.SUCCESS, DeploymentStatus.FAILED],
        )
        .order_by("finished_at", "pk")
        .values("pk", "repository_id", "environment", "status", "finished_at", "commit_at")[:100000]
    )
    days = max((end - start).total_seconds() / DAY, 1e-9)
    successes = [d for d in deployments if d["status"] == DeploymentStatus.SUCCESS]
    lead_times = [
        (d["finished_at"] - d["commit_at"]).total_seconds()
        for d in successes
        if d["commit_at"] is not None and d["finished_at"] >= d["commit_at"]
    ]
    incident_deployments = set(
        Incident.objects.filter(deployment_id__in=[d["pk"] for d in successes]).values_list("deployment_id", flat=True)
    )
    failed = [d for d in deployments if d["status"] == DeploymentStatus.FAILED]
    failures = len(failed) + len(incident_deployments)

    # Recovery: a failed production deployment is recovered by the next successful one of the same
    # repository and environment; an incident by its resolution.
    recoveries = []
    for failure in failed:
        nxt = next(
            (
                d
                for d in successes
                if d["repository_id"] == failure["repository_id"]
                and d["environment"] == failure["environment"]
                and d["finished_at"] > failure["finished_at"]
            ),
            None,
        )
        if nxt is None:
            nxt_at = (
                Deployment.objects.filter(
                    repository_id=failure["repository_id"],
                    environment=failure["environment"],
                    status=DeploymentStatus.SUCCESS,
                    finished_at__gt=failure["finished_at"],
                )
                .order_by("finished_at")
                .values_list("finished_at", flat=True)
                .first()
            )
        else:
            nxt_at = nxt["finished_at"]
        if nxt_at is not None:
            recoveries.append((nxt_at - failure["finished_at"]).total_seconds())
    incidents = Incident.objects.filter(
        Q(repository__in=repositories) | Q(deployment__repository__in=repositories),
        started_at__gte=start,
        started_at__lt=end,
        resolved_at__isnull=False,
    ).values_list("started_at", "resolved_at")
    recoveries += [(resolved - started).total_seconds() for started, resolved in incidents.distinct()[:10000]]

    return {
        "frequency": (len(successes) / days, len(successes)),
        "lead_time": (statistics.median(lead_times) if lead_times else None, len(lead_times)),
        "fail_rate": ((failures / len(deployments)) if deployments else None, len(deployments)),
        "recovery": (statistics.median(recoveries) if recoveries else None, len(recoveries)),
    }


def dora_metrics(repositories, days: int = 30, now: datetime | None = None) -> list[Metric]:
    """The four DORA metrics over the last ``days`` days, each with its band and the previous window."""
    now = now or timezone.now()
    start = now - timedelta(days=days)
    current = _dora_window(repositories, start, now)
    previous = _dora_window(repositories, start - timedelta(days=days), start)
    # No production deployment at all in the window is "no data", not "low".
    frequency = current["frequency"][0] if current["fail_rate"][1] else None
    previous_frequency = previous["frequency"][0] if previous["fail_rate"][1] else None
    return [
        Metric(
            "deployment_frequency",
            "Deployment frequency",
            frequency,
            band_deployment_frequency(frequency),
            previous_frequency,
            True,
            current["frequency"][1],
        ),
        Metric(
            "change_lead_time",
            "Change lead time",
            current["lead_time"][0],
            band_lead_time(current["lead_time"][0]),
            previous["lead_time"][0],
            False,
            current["lead_time"][1],
        ),
        Metric(
            "change_fail_rate",
            "Change fail rate",
            current["fail_rate"][0],
            band_change_fail_rate(current["fail_rate"][0]),
            previous["fail_rate"][0],
            False,
            current["fail_rate"][1],
        ),
        Metric(
            "recovery_time",
            "Failed deployment recovery time",
            current["recovery"][0],
            band_recovery_time(current["recovery"][0]),
            previous["recovery"][0],
            False,
            current["recovery"][1],
        ),
    ]


def deployments_for(repositories, limit: int = 20) -> list[Deployment]:
    return list(
        Deployment.objects.filter(repository__in=repositories)
        .select_related("repository")
        .order_by("-created_at")[:limit]
    )
