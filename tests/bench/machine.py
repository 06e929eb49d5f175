"""Reference figures of the machine a benchmark runs on, printed beside its results.

The same code can be two or three times slower on another machine; comparing these two
figures tells whether a change in a benchmark's result comes from the code or the machine.
"""

import time

from django.db import connection


def reference_figures() -> str:
    start = time.perf_counter()
    total = 0
    for n in range(3_000_000):
        total += n * n
    python_ms = (time.perf_counter() - start) * 1000
    figures = f"machine: a 3,000,000-step Python loop takes {python_ms:.0f} ms"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            start = time.perf_counter()
            cursor.execute("SELECT count(*) FROM generate_series(1, 5000000)")
            cursor.fetchone()
            figures += f"; PostgreSQL counts 5,000,000 rows in {(time.perf_counter() - start) * 1000:.0f} ms"
    return figures
