"""Celery entry points for Terraform runs. They take ids and call ``runs``/``services``."""

import logging
import socket

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_ready
from django.conf import settings
from django.db import connections

from provisioning import runs, services

logger = logging.getLogger(__name__)


@shared_task(
    name="provisioning.execute_run",
    acks_late=True,  # a worker lost mid-run gets the message redelivered; the claim makes that harmless
    soft_time_limit=settings.RUN_TIME_LIMIT_SECONDS,
    time_limit=settings.RUN_TIME_LIMIT_SECONDS + settings.PROVISIONING_INTERRUPT_GRACE_SECONDS + 30,
)
def execute_run(run_id: int) -> str:
    return runs.execute(run_id)


@celeryd_after_setup.connect
def consume_this_hosts_queue(sender, instance, **kwargs) -> None:
    """Every worker also consumes its host's queue: a run whose worker died is taken over there,
    where its working directory and its Terraform process are."""
    instance.app.amqp.queues.select_add(services.host_queue(socket.gethostname()))


@worker_ready.connect
def remove_leftover_secrets_at_start(sender=None, **kwargs) -> None:
    """A worker killed mid-run leaves its variables file (and plan) behind: a worker starting on
    the host removes those of every request no run is working for, before the hourly cleanup."""
    try:
        counts = runs.workdirs_cleanup()
    except Exception:
        logger.exception("the working directories could not be cleaned up at worker start")
        return
    finally:
        connections.close_all()  # the pool forks from this process: no connection to share
    if counts["variables"]:
        logger.info("removed %s variables files left by runs that ended without their worker", counts["variables"])


@shared_task(name="provisioning.remove_run_secrets", acks_late=True, soft_time_limit=60, time_limit=90)
def remove_run_secrets(run_id: int) -> str:
    """Sent to the queue of the host of a run the reaper failed: remove the secrets it left there."""
    return runs.remove_secrets_left_on_this_host(run_id)


@shared_task(
    name="provisioning.supervise_run",
    acks_late=True,
    soft_time_limit=settings.RUN_TIME_LIMIT_SECONDS,
    time_limit=settings.RUN_TIME_LIMIT_SECONDS + settings.PROVISIONING_INTERRUPT_GRACE_SECONDS + 30,
)
def supervise_run(run_id: int) -> str:
    """Take over a run whose worker died: follow its Terraform to the end and record the outcome."""
    return runs.supervise(run_id)


@shared_task(name="provisioning.reap_dead_runs", acks_late=True, soft_time_limit=120, time_limit=180)
def reap_dead_runs() -> int:
    return services.runs_reap_dead()


@shared_task(name="provisioning.relay_queued_runs", soft_time_limit=60, time_limit=90)
def relay_queued_runs() -> int:
    """Hand over queued runs whose message never reached the broker (it was down)."""
    return services.runs_relay()


@shared_task(name="provisioning.sweep_environments", acks_late=True, soft_time_limit=600, time_limit=660)
def sweep_environments() -> dict:
    """One expiry warning per environment (at 10 % of its lifetime before the end, at most 24 h before),
    and destroys of expired environments."""
    return services.environments_sweep()


@shared_task(name="provisioning.check_drift", acks_late=True, soft_time_limit=600, time_limit=660)
def check_drift(request_id: int) -> dict:
    return runs.check_drift(request_id)


@shared_task(name="provisioning.check_drift_all", acks_late=True, soft_time_limit=300, time_limit=360)
def check_drift_all() -> int:
    """Enqueue a drift check per active environment, reading ids in chunks."""
    from provisioning.models import EnvironmentRequest, RequestState

    count = 0
    for ids in services._ids_in_chunks(EnvironmentRequest.objects.filter(state=RequestState.ACTIVE), 500):
        for request_id in ids:
            check_drift.delay(request_id)
            count += 1
    return count


@shared_task(name="provisioning.relabel_namespace", acks_late=True, soft_time_limit=60, time_limit=90)
def relabel_namespace(request_id: int) -> str:
    return runs.relabel_namespace(request_id)


@shared_task(name="provisioning.cleanup_workdirs", acks_late=True, soft_time_limit=300, time_limit=360)
def cleanup_workdirs() -> dict:
    """Working directories and state schemas of environments that are gone; variables files left behind."""
    return runs.workdirs_cleanup()
