import pytest

from portal import services
from portal.models import WorkerPing
from tests.worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_real_worker_runs_a_task_through_the_configured_broker(celery_worker, settings):
    ping = services.worker_ping_send()  # enqueued on commit: autocommit here
    answered = wait_for(lambda: WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first(), timeout=60)
    assert answered is not None, f"no answer through {settings.CELERY_BROKER_URL}"
    assert answered.answered_by


def test_a_redelivered_ping_is_answered_only_once(celery_worker):
    from portal.tasks import answer_ping

    ping = WorkerPing.objects.create()
    answer_ping.delay(ping.pk)
    answer_ping.delay(ping.pk)
    first = wait_for(lambda: WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first(), timeout=60)
    assert first is not None
    assert not services.worker_ping_answer(ping_id=ping.pk, hostname="late")
    ping.refresh_from_db()
    assert ping.answered_at == first.answered_at
