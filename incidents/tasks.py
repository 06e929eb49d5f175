"""Celery entry points: take ids, call services."""

from celery import shared_task

from incidents import services


@shared_task(name="incidents.apply_notification", acks_late=True, soft_time_limit=60, time_limit=90)
def apply_notification(notification_pk: int) -> str:
    # Idempotent: a notification that is no longer pending is left alone.
    return services.notification_apply(notification_pk=notification_pk)


@shared_task(name="incidents.requeue_pending_notifications", soft_time_limit=60, time_limit=90)
def requeue_pending_notifications() -> int:
    return services.notifications_requeue_pending()


@shared_task(name="incidents.prune_notifications", soft_time_limit=300, time_limit=360)
def prune_notifications() -> int:
    from django.conf import settings

    return services.notifications_prune(older_than_days=settings.INCIDENTS_NOTIFICATION_RETENTION_DAYS)
