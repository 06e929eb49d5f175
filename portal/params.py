"""Whole numbers sent by users (ids, revision numbers, offsets in query strings and forms)."""

import re

MAX_INT = 2**63 - 1  # the largest integer SQLite and PostgreSQL (bigint) store
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_int(raw) -> int | None:
    """``raw`` as a non-negative integer, or None unless it is ASCII digits within a 63-bit value.

    ``str.isdigit()`` accepts "²" (which ``int()`` refuses) and ``int()`` accepts "١٢", " 7" and
    "1_0"; values past 63 bits overflow the database driver.
    """
    if raw is None:
        return None
    raw = str(raw)
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_INT else None
