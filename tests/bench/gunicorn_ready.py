"""gunicorn configuration for the benchmarks (``-c tests/bench/gunicorn_ready.py``): each worker says when it
has loaded the portal, so that a benchmark starts its clock once every worker can answer, not while they
are still importing Django (a few seconds in which every request waits)."""

READY = "bench: worker ready"


def post_worker_init(worker):
    worker.log.warning("%s (pid %s)", READY, worker.pid)
