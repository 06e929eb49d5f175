"""Start the whole portal on the embedded default: web, Celery worker and beat.

Ctrl-C stops all three.
"""

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from portal.demo import DEMO_USERS

# The addresses that mean "every interface", recognised in HOST (Bridge never picks one itself).
WILDCARDS = {"0.0.0.0", "::"}  # noqa: S104  # nosec B104
# The longest the worker and beat wait for the web server to answer before they start anyway.
WEB_FIRST_SECONDS = 30
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def parse_address(host: str, port: str | int) -> tuple[str, int]:
    """The host (an IP address, IPv6 with or without brackets, or a name) and the port, checked."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not (_is_ip(host) or HOST_NAME.match(host)):
        raise CommandError(f"HOST {host!r} is not an IP address or a host name (for example 127.0.0.1 or 0.0.0.0).")
    try:
        number = int(str(port).strip())
    except ValueError:
        raise CommandError(f"PORT {port!r} is not a number (for example 8080).") from None
    if not 1 <= number <= 65535:
        raise CommandError(f"PORT {number} is outside 1-65535.")
    return host, number


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def child_environment(host: str, port: int, environ: dict[str, str], allowed_hosts: list[str]) -> dict[str, str]:
    """The environment of the web server, worker and beat for the chosen address.

    ``PORTAL_BASE_URL`` (the address in notification links) follows the address unless it
    is set. Listening on every interface (0.0.0.0 or ::), links use this machine's name.
    Unless ``ALLOWED_HOSTS`` is set, the name or address the portal is reached by is
    added to the development defaults (``allowed_hosts``), so that Django accepts it.
    """
    env = dict(environ)
    public = _url_host(socket.gethostname() if host in WILDCARDS else host)
    env.setdefault("PORTAL_BASE_URL", f"http://{public}:{port}")
    if "ALLOWED_HOSTS" not in environ and public not in allowed_hosts:
        env["ALLOWED_HOSTS"] = ",".join([*allowed_hosts, public])
    return env


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.2):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
        parser.add_argument("--port", default="8000", help="port to listen on")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="first apply the migrations and load the demo data (what `make run` does), in this process",
        )

    def handle(self, *args, host, port, demo, **options):
        host, port = parse_address(host, port)
        env = child_environment(host, port, dict(os.environ), list(settings.ALLOWED_HOSTS))
        if demo:
            # In this process rather than two more: each Python process that starts Django costs
            # seconds on a small machine, before a newcomer sees the first page.
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            call_command("seed_demo", stdout=self.stdout)
            connections.close_all()
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "portal"]
        commands = {
            "web": [python, "manage.py", "runserver", f"{_url_host(host)}:{port}", "--noreload"],
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
        # The web server first: on a small, busy machine the worker and beat, started beside it,
        # would slow down the first page. They start as soon as it answers (or after a while).
        processes = {"web": subprocess.Popen(commands.pop("web"), cwd=settings.BASE_DIR, env=env)}
        waiting_since = time.monotonic()
        probe = ("::1" if host == "::" else "127.0.0.1" if host in WILDCARDS else host, port)
        local = f"http://{_url_host('127.0.0.1' if host in WILDCARDS else host)}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nBridge is starting at {local}\n"))
        if env["PORTAL_BASE_URL"].rstrip("/") + "/" != local:
            self.stdout.write(f"Links in notifications point at {env['PORTAL_BASE_URL']} (PORTAL_BASE_URL).")
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
                if commands and (_answers(probe) or time.monotonic() - waiting_since > WEB_FIRST_SECONDS):
                    for name, command in commands.items():
                        processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)
                    commands = {}
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
