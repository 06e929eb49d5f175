"""The web process (gunicorn loads portal.wsgi) prepares what every worker would otherwise build on
its first request."""

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


def test_loading_the_wsgi_application_builds_the_url_reverse_table_before_any_request():
    # A fresh interpreter: in this one the test client has long built the table.
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True", done.stdout
