"""Reads of pipelines: dashboards, statistics and DORA metrics. Every query is bounded."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Extract, Lower, TruncDate
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


class _Median(Aggregate):
    """PostgreSQL's exact median; other databases compute it in Python (``_median``)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _median(queryset, seconds_expression, python_values) -> tuple[float | None, int]:
    """Median and count of a duration in seconds, in the database when it can."""
    if connection.vendor == "postgresql":
        row = queryset.aggregate(m=_Median(seconds_expression), n=Count("pk"))
        return row["m"], row["n"]
    values = python_values(queryset)
    return (statistics.median(values) if values else None), len(values)


# --- scopes: which repositories belong to an entity or a team -------------------------


def repositories_for_entities(entities) -> QuerySet[Repository]:
    """Repositories linked to the entities, or named by their ``*/project-slug`` annotations (any case)."""
    entities = list(entities)
    slugs: dict[str, set[str]] = {provider: set() for provider in ANNOTATIONS.values()}
    for entity in entities:
        annotations = entity.annotations if isinstance(entity.annotations, dict) else {}
        for key, provider in ANNOTATIONS.items():
            slug = annotations.get(key)
            if isinstance(slug, str) and slug.strip():
                slugs[provider].add(slug.strip().lower())
    by_annotation = Q(pk__in=[])
    for provider, names in slugs.items():
        if names:
            by_annotation |= Q(provider__in=[provider, Provider.GENERIC], slug_lower__in=sorted(names))
    return (
        Repository.objects.annotate(slug_lower=Lower("slug"))
        .filter(Q(entity__in=[e.pk for e in entities]) | (by_annotation & Q(linked_manually=False)))
        .order_by("pk")
    )


def latest_default_branch_runs(entities) -> dict[int, Run | None]:
    """Per entity, the latest run on the default branch of any of its repositories' pipelines.

    One query whatever the number of entities: the pipelines' denormalised
    ``default_branch_run`` with their repositories, matched to the entities the way
    ``repositories_for_entities`` matches them (linked, or named by an annotation).
    """
    entities = list(entities)
    latest: dict[int, Run | None] = {e.pk: None for e in entities}
    if not entities:
        return latest
    repositories = repositories_for_entities(entities).values("pk")
    pipelines = (
        Pipeline.objects.filter(repository__in=repositories, default_branch_run__isnull=False)
        .select_related("repository", "default_branch_run")
        .order_by("pk")
    )
    by_slug: dict[tuple[str, str], list[int]] = {}
    for entity in entities:
        annotations = entity.annotations if isinstance(entity.annotations, dict) else {}
        for key, provider in ANNOTATIONS.items():
            slug = annotations.get(key)
            if isinstance(slug, str) and slug.strip():
                by_slug.setdefault((provider, slug.strip().lower()), []).append(entity.pk)
    for pipeline in pipelines:
        repo, run = pipeline.repository, pipeline.default_branch_run
        run.pipeline = pipeline  # for the caller's labels, without another query
        owners = {repo.entity_id} if repo.entity_id in latest else set()
        if not repo.linked_manually:
            providers = list(ANNOTATIONS.values()) if repo.provider == Provider.GENERIC else [repo.provider]
            for provider in providers:
                owners.update(by_slug.get((provider, repo.slug.lower()), []))
        for entity_id in owners:
            current = latest[entity_id]
            if current is None or (run.created_at, run.pk) > (current.created_at, current.pk):
                latest[entity_id] = run
    return latest


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


def integrations_overview() -> QuerySet:
    """Integrations with how many deliveries they refused in the last 7 days (one query)."""
    from pipelines.models import Delivery, DeliveryStatus, Integration

    since = timezone.now() - timedelta(days=7)
    refused = Delivery.objects.filter(
        integration=OuterRef("pk"), status=DeliveryStatus.REFUSED, received_at__gte=since
    ).order_by()
    return Integration.objects.annotate(
        refused_recently=Subquery(refused.values("integration").annotate(n=Count("pk")).values("n")[:1])
    ).order_by("name")


def refused_deliveries(integration, limit: int = 10) -> list:
    """The integration's latest refused deliveries, with why (newest first)."""
    from pipelines.models import Delivery, DeliveryStatus

    return list(
        Delivery.objects.filter(integration=integration, status=DeliveryStatus.REFUSED)
        .only("delivery_id", "event", "error", "received_at", "attempts")
        .order_by("-received_at", "-pk")[:limit]
    )


def connected_repositories() -> QuerySet[Repository]:
    """Repositories whose history Bridge reads from the provider's API; those needing attention first."""
    return Repository.objects.filter(history_connected=True).order_by("slug")


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
    median, _ = _median(
        runs.filter(duration_seconds__isnull=False).order_by(),
        F("duration_seconds"),
        lambda qs: list(qs.values_list("duration_seconds", flat=True)[:50000]),
    )
    return RunStats(days=days, finished=counts["finished"], succeeded=counts["succeeded"], median_duration=median)


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
    count: int  # what the figure is computed from: deployments, or recoveries
    part: int | None = None  # change fail rate: the failed changes among ``count`` deployments

    @property
    def trend(self) -> str | None:
        """``better``, ``worse`` or ``same`` compared with the window before."""
        if self.value is None or self.previous is None:
            return None
        if self.value == self.previous:
            return "same"
        return "better" if (self.value > self.previous) == self.higher_is_better else "worse"


def _seconds_between(later: str, earlier: str):
    return Extract(ExpressionWrapper(F(later) - F(earlier), output_field=DurationField()), "epoch")


def _production_deployments(repository_ids: list[int], start: datetime, end: datetime) -> QuerySet[Deployment]:
    """The production deployments DORA counts in a window: finished in it, succeeded or failed."""
    return Deployment.objects.filter(
        repository_id__in=repository_ids,
        is_production=True,
        finished_at__gte=start,
        finished_at__lt=end,
        status__in=[DeploymentStatus.SUCCESS, DeploymentStatus.FAILED],
    )


def _next_production_success() -> Subquery:
    """When a failed production deployment was recovered: the next successful one of the same repository and
    environment (which may come after the window). Environments compare without case, as GitHub treats them
    and as the production check does; the outer query annotates ``environment_key``."""
    return Subquery(
        Deployment.objects.annotate(environment_key=Lower("environment"))
        .filter(
            repository_id=OuterRef("repository_id"),
            environment_key=OuterRef("environment_key"),
            is_production=True,
            status=DeploymentStatus.SUCCESS,
            finished_at__gt=OuterRef("finished_at"),
        )
        .order_by("finished_at")
        .values("finished_at")[:1]
    )


def _window_incidents(repository_ids: list[int], start: datetime, end: datetime) -> QuerySet[Incident]:
    """The incidents of these repositories (directly, through a deployment, or through their entity) that
    started in the window; each once."""
    linked_entities = Repository.objects.filter(pk__in=repository_ids, entity__isnull=False).values("entity_id")
    matching = Incident.objects.filter(
        Q(repository_id__in=repository_ids)
        | Q(deployment__repository_id__in=repository_ids)
        | Q(entity_id__in=linked_entities),
        started_at__gte=start,
        started_at__lt=end,
    ).values("pk")
    return Incident.objects.filter(pk__in=matching)


def _dora_window(repository_ids: list[int], start: datetime, end: datetime) -> dict:
    production = _production_deployments(repository_ids, start, end)
    counts = production.aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(status=DeploymentStatus.SUCCESS)),
        failed=Count("pk", filter=Q(status=DeploymentStatus.FAILED)),
        with_incident=Count(
            "pk",
            filter=Q(status=DeploymentStatus.SUCCESS) & Exists(Incident.objects.filter(deployment_id=OuterRef("pk"))),
        ),
    )
    days = max((end - start).total_seconds() / DAY, 1e-9)

    lead_time = _median(
        production.filter(
            status=DeploymentStatus.SUCCESS, commit_at__isnull=False, commit_at__lte=F("finished_at")
        ).order_by(),
        _seconds_between("finished_at", "commit_at"),
        lambda qs: [(f - c).total_seconds() for f, c in qs.values_list("finished_at", "commit_at")],
    )

    # Recovery: a failed production deployment is recovered by the next successful one; an incident by
    # its resolution.
    recoveries = [
        (recovered - failed_at).total_seconds()
        for failed_at, recovered in production.filter(status=DeploymentStatus.FAILED)
        .annotate(environment_key=Lower("environment"), recovered_at=_next_production_success())
        .filter(recovered_at__isnull=False)
        .values_list("finished_at", "recovered_at")[:20000]
    ]
    recoveries += [
        (resolved - started).total_seconds()
        for started, resolved in _window_incidents(repository_ids, start, end)
        .filter(resolved_at__isnull=False)
        .values_list("started_at", "resolved_at")[:20000]
    ]
    total = counts["total"]
    failed_changes = counts["failed"] + counts["with_incident"]
    return {
        "frequency": ((counts["succeeded"] / days) if total else None, counts["succeeded"], None),
        "lead_time": (*lead_time, None),
        "fail_rate": ((failed_changes / total) if total else None, total, failed_changes),
        "recovery": (statistics.median(recoveries) if recoveries else None, len(recoveries), None),
    }


def _repository_ids(repositories) -> list[int]:
    if hasattr(repositories, "values_list"):
        return list(repositories.values_list("pk", flat=True))
    return [r.pk for r in repositories]


def dora_metrics(repositories, days: int = 30, now: datetime | None = None) -> list[Metric]:
    """The four DORA metrics over the last ``days`` days, each with its band and the previous window.

    A handful of aggregate queries per window, whatever the number of deployments: medians are
    computed by PostgreSQL (``percentile_cont``); on SQLite, the embedded default, in Python.
    """
    now = now or timezone.now()
    start = now - timedelta(days=days)
    repository_ids = _repository_ids(repositories)
    current = _dora_window(repository_ids, start, now)
    previous = _dora_window(repository_ids, start - timedelta(days=days), start)
    spec = [
        ("deployment_frequency", "Deployment frequency", "frequency", band_deployment_frequency, True),
        ("change_lead_time", "Change lead time", "lead_time", band_lead_time, False),
        ("change_fail_rate", "Change fail rate", "fail_rate", band_change_fail_rate, False),
        ("recovery_time", "Failed deployment recovery time", "recovery", band_recovery_time, False),
    ]
    return [
        Metric(
            key,
            label,
            current[name][0],
            band(current[name][0]),
            previous[name][0],
            higher,
            current[name][1],
            current[name][2],
        )
        for key, label, name, band, higher in spec
    ]


@dataclass(frozen=True)
class DoraDrilldown:
    """What the DORA figures of a window were computed from, row by row."""

    start: datetime
    end: datetime
    deployments: QuerySet  # production deployments, with ``caused_incident`` and ``recovered_at``
    incidents: QuerySet


def dora_drilldown(repositories, days: int = 30, now: datetime | None = None) -> DoraDrilldown:
    """The production deployments and the incidents the DORA figures of the last ``days`` days count."""
    end = now or timezone.now()
    start = end - timedelta(days=days)
    repository_ids = _repository_ids(repositories)
    deployments = (
        _production_deployments(repository_ids, start, end)
        .select_related("repository")
        .annotate(
            caused_incident=Exists(Incident.objects.filter(deployment_id=OuterRef("pk"))),
            environment_key=Lower("environment"),
            recovered_at=_next_production_success(),
        )
        .order_by("-finished_at", "-pk")
    )
    incidents = (
        _window_incidents(repository_ids, start, end)
        .select_related("entity", "deployment")
        .order_by("-started_at", "-pk")
    )
    return DoraDrilldown(start=start, end=end, deployments=deployments, incidents=incidents)


def deployments_for(repositories, limit: int = 20) -> list[Deployment]:
    return list(
        Deployment.objects.filter(repository__in=repositories)
        .select_related("repository")
        .order_by("-created_at")[:limit]
    )


# --- deployments as other apps see them (portal.extensions.DeploymentSource) ---------------------


def deployments_for_entity(entity_id: int, since: datetime, until: datetime, limit: int = 50) -> list:
    """The service's deployments (any environment) that finished, or started, in the window, newest first."""
    from django.db.models.functions import Coalesce

    from portal.extensions import DeploymentInfo

    rows = (
        Deployment.objects.filter(repository__entity_id=entity_id)
        .annotate(at=Coalesce("finished_at", "created_at"))
        .filter(at__gte=since, at__lte=until)
        .select_related("repository")
        .order_by("-at", "-pk")[:limit]
    )
    return [
        DeploymentInfo(
            ref=d.provider_id,
            entity_id=entity_id,
            environment=d.environment,
            is_production=d.is_production,
            status=d.status,
            at=d.at,
            commit_sha=d.commit_sha,
            url=d.url,
            actor=d.actor,
        )
        for d in rows
    ]


def deployment_entity_ids(provider_id: str) -> set[int | None]:
    """Which services have a deployment with this provider id (None: a repository of no service)."""
    return set(Deployment.objects.filter(provider_id=provider_id).values_list("repository__entity_id", flat=True))
