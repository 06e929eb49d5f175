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
