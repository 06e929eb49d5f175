"""What the global search finds in pipelines: workflows by repository or name."""

from django.db.models import Q

from pipelines.models import Pipeline
from pipelines.permissions import can_view_pipelines
from portal.extensions import SearchHit


def search_pipelines(user, query: str, limit: int) -> list[SearchHit]:
    if not can_view_pipelines(user):
        return []
    pipelines = (
        Pipeline.objects.filter(Q(name__icontains=query) | Q(repository__slug__icontains=query))
        .select_related("repository", "last_run")
        .order_by("attention", "-last_activity_at")[:limit]
    )
    hits = []
    for pipeline in pipelines:
        run = pipeline.last_run
        hits.append(
            SearchHit(
                title=str(pipeline),
                url=run.get_absolute_url() if run else "",
                kind=run.status if run else "no runs",
                snippet=f"last run on {run.branch}" if run and run.branch else "",
            )
        )
    return [hit for hit in hits if hit.url]
