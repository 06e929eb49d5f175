import time

from django.core.management.base import BaseCommand, CommandError

from portal import services
from portal.models import WorkerPing


class Command(BaseCommand):
    help = "Send a task through the broker and wait for a Celery worker to answer it."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=15.0)

    def handle(self, *args, timeout, **options):
        ping = services.worker_ping_send()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first()
            if answered:
                elapsed = (answered.answered_at - answered.created_at).total_seconds()
                self.stdout.write(self.style.SUCCESS(f"Worker {answered.answered_by} answered in {elapsed:.2f}s."))
                return
            time.sleep(0.2)
        raise CommandError(f"No worker answered within {timeout:.0f}s. Is `celery -A portal worker` running?")
