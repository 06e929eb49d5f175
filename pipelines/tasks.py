"""Celery entry points: take ids, call services."""

from celery import shared_task

from pipelines import services


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def process_delivery(delivery_pk: int) -> str:
    # Idempotent: a delivery that is no longer pending is left alone.
    return services.delivery_process(delivery_pk=delivery_pk)


@shared_task(acks_late=True, soft_time_limit=180, time_limit=210)
def drain_deliveries() -> int:
    """Process every pending delivery (the receivers kick this; see ``services._kick``)."""
    return services.deliveries_drain()


@shared_task(soft_time_limit=120, time_limit=150)
def rematch_repositories() -> int:
    """Link repositories that match nothing yet to entities whose annotations now name them."""
    return services.repositories_rematch()


@shared_task(soft_time_limit=120, time_limit=150)
def requeue_stale_deliveries() -> int:
    return services.deliveries_requeue_stale()


@shared_task(soft_time_limit=300, time_limit=360)
def prune_deliveries() -> int:
    from django.conf import settings

    return services.deliveries_prune(older_than_days=settings.PIPELINES_DELIVERY_RETENTION_DAYS)


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def sync_repository_history(repository_id: int) -> str:
    """Backfill or reconcile one connected repository from its provider's API (idempotent)."""
    from pipelines.models import Repository

    if not Repository.objects.filter(pk=repository_id, history_connected=True).exists():
        return "not connected"
    return services.repository_history_sync(repository_id=repository_id).state


@shared_task(soft_time_limit=120, time_limit=150)
def reconcile_history() -> int:
    """Beat: queue a sync of every connected repository, to catch deliveries that never arrived."""
    return services.repositories_history_reconcile()
