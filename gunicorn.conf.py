"""gunicorn's settings for Bridge; gunicorn reads this file from the folder it starts in (the image's /app).

Threads: each worker process serves WEB_THREADS requests at once (the ``gthread`` worker), so that
one request's wait for PostgreSQL does not hold up the others, and connections are kept alive
between requests (gunicorn's default ``sync`` worker closes every connection after one request).
Over HTTP on 2 cores this tripled lookups by reference per second (47 → 153 requests/s with 2
workers; docs/catalog/performance.md). Each thread holds its own database connection: plan for
WEB_CONCURRENCY × WEB_THREADS connections per web pod. WEB_THREADS=1 gives the sync worker back.
Flags on the command line and in GUNICORN_CMD_ARGS still win over this file.
"""

import os

threads = max(1, int(os.environ.get("WEB_THREADS", "4")))
# Longer than a load balancer's usual idle timeout (60 s), so the proxy, not gunicorn, closes idle connections.
keepalive = int(os.environ.get("WEB_KEEPALIVE_SECONDS", "75"))
# The same access line as gunicorn's own logger, without working out every atom of every request.
logger_class = "portal.access_log.AccessLogger"


def _limit_malloc_arenas(arenas: int) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), and memory freed
    in one is not returned to the others: with 4 threads a worker grew about 6 MB more than with 2
    arenas, and ran no slower (docs/catalog/performance.md). Set here, in the master, before the
    workers are forked; MALLOC_ARENA_MAX in the environment, when set, is left to glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        pass


_limit_malloc_arenas(int(os.environ.get("WEB_MALLOC_ARENAS", "2")))
