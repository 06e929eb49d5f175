"""Loaded by pytest before pytest-django reads the settings (``-p tests.environment`` in pyproject.toml).

Keeps the tests' filesystem broker queue apart from a portal that may be running on this
checkout: otherwise that portal's worker could take the tests' tasks, and the other way round.

With pytest-xdist (``make test`` runs the tests in parallel processes) each process gets a var
folder and broker queues of its own, so that a Celery worker one process starts never takes
another's tasks. The processes it starts (workers, gunicorn) inherit these variables.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# PORTAL_VAR_DIR keeps a whole run's files apart (CI runs its two passes side by side).
_VAR = Path(os.environ.get("PORTAL_VAR_DIR") or _ROOT / "var")
_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... in pytest-xdist's processes
if _PROCESS and not os.environ.get("BRIDGE_TEST_PROCESS"):
    os.environ["BRIDGE_TEST_PROCESS"] = _PROCESS
    _VAR = _VAR / _PROCESS
    os.environ["PORTAL_VAR_DIR"] = str(_VAR)
    os.environ["BROKER_DATA_DIR"] = str(_VAR / "test-broker")
    os.environ["CELERY_BROKER_KEY_PREFIX"] = f"bridge-test-{_PROCESS}:"
os.environ.setdefault("BROKER_DATA_DIR", str(_VAR / "test-broker"))
