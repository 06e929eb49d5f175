"""Loaded by pytest before pytest-django reads the settings (``-p tests.environment`` in pyproject.toml).

Keeps the tests' filesystem broker queue apart from a portal that may be running on this
checkout: otherwise that portal's worker could take the tests' tasks, and the other way round.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("BROKER_DATA_DIR", str(_ROOT / "var" / "test-broker"))
