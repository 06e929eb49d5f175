import socket

from celery import shared_task

from portal import services


@shared_task(name="portal.answer_ping", acks_late=True, soft_time_limit=30, time_limit=60)
def answer_ping(ping_id: int) -> None:
    services.worker_ping_answer(ping_id=ping_id, hostname=socket.gethostname())


@shared_task(bind=True, name="portal.deliver", acks_late=True, max_retries=6, soft_time_limit=60, time_limit=90)
def deliver(self, delivery_id: int) -> str:
    """Send an email or chat message; transient failures retry with exponential backoff."""
    from portal.chat import PermanentDeliveryError, TransientDeliveryError

    try:
        return services.delivery_attempt(delivery_id=delivery_id)
    except PermanentDeliveryError as exc:
        services.delivery_give_up(delivery_id=delivery_id, reason=str(exc))
        return "failed"
    except TransientDeliveryError as exc:
        if self.request.retries >= self.max_retries:
            services.delivery_give_up(delivery_id=delivery_id, reason=f"gave up after retries: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task(name="portal.resend_stale_deliveries", soft_time_limit=60, time_limit=90)
def resend_stale_deliveries() -> int:
    return services.deliveries_resend_stale()


@shared_task(name="portal.warn_expiring_tokens", soft_time_limit=120, time_limit=180)
def warn_expiring_tokens() -> int:
    from django.conf import settings

    return services.tokens_warn_expiring(within_days=settings.API_TOKEN_WARN_DAYS)
