"""Start the whole portal on the embedded default: web, Celery worker and beat.

Ctrl-C stops all three.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.demo import DEMO_USERS


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "portal"]
        commands = {
            "web": [python, "manage.py", "runserver", addrport, "--noreload"],
            "worker": celery
            + [
                "worker",
                "-Q",
                "default,provisioning",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                "bridge@%h",
            ],
            "beat": celery + ["beat", "--loglevel", "INFO", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        processes = {}
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=os.environ.copy())
        self.stdout.write(self.style.SUCCESS(f"\nBridge is starting at http://{addrport}/\n"))
        self.stdout.write("Demo logins (development only):")
        for username, password, *_ in DEMO_USERS:
            self.stdout.write(f"  {username:<10} / {password}")
        self.stdout.write("Press Ctrl-C to stop web, worker and beat.\n")

        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the rest.")
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped.")
