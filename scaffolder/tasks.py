"""Celery entry points for software-template runs. They take ids and call ``services``."""

from celery import shared_task

from scaffolder import services


@shared_task(name="scaffolder.execute_run", acks_late=True, soft_time_limit=600, time_limit=660)
def execute_run(run_id: int) -> str:
    # The claim (queued -> running, one conditional update) makes a second delivery harmless.
    return services.run_execute(run_id)
