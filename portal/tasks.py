import socket

from celery import shared_task

from portal import services


@shared_task(name="portal.answer_ping", acks_late=True, soft_time_limit=30, time_limit=60)
def answer_ping(ping_id: int) -> None:
    services.worker_ping_answer(ping_id=ping_id, hostname=socket.gethostname())
