"""Data the catalog's scorecards ask the pipelines app for (see catalog.scorecards)."""

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
