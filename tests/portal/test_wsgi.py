"""The web process (gunicorn loads portal.wsgi) prepares what every worker would otherwise build on
its first request; the Celery worker's main process what its pool's processes would build on their
first task."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from django.urls import get_resolver
from django.utils.translation import get_language

import portal.wsgi  # noqa: F401  (as gunicorn does)

print(get_language() in get_resolver()._reverse_dict)
"""


def _last_line_of(probe: str) -> str:
    """Run ``probe`` in a fresh interpreter (in this one the test client has long built everything)."""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_loading_the_wsgi_application_builds_the_url_reverse_table_before_any_request():
    assert _last_line_of(PROBE) == "True"


TASKS_PROBE = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import portal.wsgi  # noqa: F401  (as gunicorn does)
from portal.celery import app

connection = app.pool.acquire(block=False)  # the last one released, as the first request gets it
print(app.finalized, "incidents.apply_notification" in app.tasks, connection.connected)
"""


def test_loading_the_wsgi_application_registers_the_tasks_and_connects_to_the_broker():
    # Otherwise the first request that queues a task waits for both (about 0.8 s here).
    assert _last_line_of(TASKS_PROBE).split() == ["True", "True", "True"]


WORKER_PROBE = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from celery.signals import worker_init

from portal.celery import app

worker_init.send(sender=None)  # as `celery worker` does before it starts its pool

from django.urls import get_resolver
from django.utils.translation import get_language

print(get_language() in get_resolver()._reverse_dict)
"""


def test_the_celery_worker_builds_the_url_reverse_table_before_its_pool_starts():
    assert _last_line_of(WORKER_PROBE) == "True"
