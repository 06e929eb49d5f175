"""Data the catalog asks the pipelines app for, through ``catalog.scorecards`` data sources.

The scorecards' checks use ``ci_success_rate_30d`` and ``last_deployed_at``; the home
page's "My services" panel shows ``default_branch_run``.
"""

from datetime import timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from pipelines.models import FINISHED, Deployment, DeploymentStatus, Run, RunStatus


def ci_success_rate_30d(entities: list) -> dict:
    """Percent of finished runs that succeeded over 30 days; None where no run finished."""
    ids = [e.pk for e in entities]
    since = timezone.now() - timedelta(days=30)
    rows = (
        Run.objects.filter(pipeline__repository__entity_id__in=ids, status__in=FINISHED, created_at__gte=since)
        .exclude(status=RunStatus.SKIPPED)
        .values("pipeline__repository__entity_id")
        .annotate(total=Count("pk"), ok=Count("pk", filter=Q(status=RunStatus.SUCCESS)))
    )
    rates = {r["pipeline__repository__entity_id"]: 100.0 * r["ok"] / r["total"] for r in rows if r["total"]}
    return {pk: rates.get(pk) for pk in ids}


def last_deployed_at(entities: list) -> dict:
    """When each entity was last deployed to production successfully; None if never."""
    ids = [e.pk for e in entities]
    rows = (
        Deployment.objects.filter(repository__entity_id__in=ids, is_production=True, status=DeploymentStatus.SUCCESS)
        .values("repository__entity_id")
        .annotate(last=Max("finished_at"))
    )
    last = {r["repository__entity_id"]: r["last"] for r in rows}
    return {pk: last.get(pk) for pk in ids}


RUN_STYLES = {RunStatus.SUCCESS: "ok", RunStatus.FAILED: "bad", RunStatus.RUNNING: "warn", RunStatus.CANCELLED: "warn"}


def default_branch_run(entities: list) -> dict:
    """The latest run on the default branch, as plain data for the catalog's templates; None if none."""
    from pipelines.selectors import latest_default_branch_runs

    return {
        pk: None
        if run is None
        else {
            "status": run.status,
            "style": RUN_STYLES.get(run.status, "neutral"),
            "url": run.get_absolute_url(),
            "title": f"{run.pipeline.name} on {run.branch} #{run.number or run.provider_id}",
            "at": run.finished_at or run.created_at,
        }
        for pk, run in latest_default_branch_runs(entities).items()
    }
