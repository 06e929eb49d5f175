"""Loaded by pytest before pytest-django reads the settings (``-p tests.environment`` in pyproject.toml).

Keeps the tests' filesystem broker queue apart from a portal that may be running on this
checkout: otherwise that portal's worker could take the tests' tasks, and the other way round.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# PORTAL_VAR_DIR keeps a whole run's files apart (CI runs its two passes side by side).
_VAR = Path(os.environ.get("PORTAL_VAR_DIR") or _ROOT / "var")
os.environ.setdefault("BROKER_DATA_DIR", str(_VAR / "test-broker"))
