"""Celery entry points for Terraform runs. They take ids and call ``runs``/``services``."""

from celery import shared_task
from django.conf import settings

from provisioning import runs, services


@shared_task(
    name="provisioning.execute_run",
    acks_late=True,  # a worker lost mid-run gets the message redelivered; the claim makes that harmless
    soft_time_limit=settings.RUN_TIME_LIMIT_SECONDS,
    time_limit=settings.RUN_TIME_LIMIT_SECONDS + settings.PROVISIONING_INTERRUPT_GRACE_SECONDS + 30,
)
def execute_run(run_id: int) -> str:
    return runs.execute(run_id)


@shared_task(name="provisioning.reap_dead_runs", acks_late=True, soft_time_limit=120, time_limit=180)
def reap_dead_runs() -> int:
    return services.runs_reap_dead()
