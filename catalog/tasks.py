"""Celery entry points of the catalog: scorecards after changes and every night."""

from celery import shared_task

from catalog import services


@shared_task(name="catalog.evaluate_scorecards", acks_late=True, soft_time_limit=600, time_limit=660)
def evaluate_scorecards(entity_ids: list[int] | None = None) -> int:
    """Recompute scores (of the given entities, or all of them). Running it twice does no harm."""
    return services.scorecards_evaluate(entity_ids=entity_ids)
