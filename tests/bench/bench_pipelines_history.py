"""Pipelines history benchmark: ``python -m tests.bench.bench_pipelines_history [--runs 10000]``.

The simulated GitHub API (tests/githost_api.py, answering with the real responses recorded in
tests/fixtures/githosts/pipelines_github.json) serves one repository with ``--runs`` workflow runs of
five jobs each, in a separate process so the server does not share this process's interpreter.
Then it measures, and prints with their budgets (issue 21):

1. the backfill of all runs with their jobs (one list request per 100 runs, one jobs request per run), with the
   CPU time it took in Bridge's process and in the fixture server's (figures a busy machine changes less);
2. a reconcile with nothing new: its requests and the rows it wrote.

Use a scratch database (it deletes the benchmark repository's runs): ``DATABASE_URL=postgres://…/scratch``,
or none for SQLite under var/. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

SLUG = "bench/shop"


def serve(conn, root: str, runs: int) -> None:
    from tests.githost_api import GitHostAPI
    from tests.gitserver import GitServer

    git = GitServer(Path(root)).start()
    api = GitHostAPI(git, "github").start()
    api.add(SLUG)
    # A 10,000-run backfill needs about 10,100 requests: more than the 5,000 an hour GitHub gives a personal token
    # (Bridge would wait for the reset, showing "waiting for rate limit"); measure with a GitHub App's 15,000.
    api.rate_limit = api._remaining = 15000
    api.ci_history(SLUG, runs=runs, deployments=True, newest_ago=__import__("datetime").timedelta(minutes=5))
    conn.send({"api_url": api.api_url, "host": git.host, "web": git.base_url})
    serving = time.process_time()
    conn.recv()  # until the benchmark is done
    conn.send({"requests": len(api.requests), "cpu": time.process_time() - serving})
    api.stop()
    git.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--profile", action="store_true", help="print where the backfill spends its time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        server = context.Process(target=serve, args=(child, tmp, args.runs), daemon=True)
        server.start()
        hosts = parent.recv()
        os.environ["GIT_INTEGRATIONS"] = json.dumps(
            [
                {
                    "type": "github",
                    "host": hosts["host"],
                    "api_base_url": hosts["api_url"],
                    "token": "ghp_bench",
                    "allow_private_addresses": True,
                }
            ]
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        os.environ["DEBUG"] = "0"  # as in production: no query log kept in memory (bench_pipelines.py does the same)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from pipelines import services
        from pipelines.models import Job, Repository, Run

        call_command("migrate", verbosity=0)
        Repository.objects.filter(slug=SLUG).delete()
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]

        def line(label: str, value: str, budget: str = "") -> None:
            print(f"  {label:<52} {value:<30} {budget}")

        print(f"database: {db}; {args.runs:,} runs of 5 jobs in {SLUG}")
        line("recorded runs generated and served (setup)", f"{time.perf_counter() - started:.1f} s")
        repo = Repository.objects.create(
            provider="github", slug=SLUG, url=f"{hosts['web']}/{SLUG}", history_connected=True, history_days=90
        )

        started, cpu = time.perf_counter(), time.process_time()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            result = profiler.runcall(services.repository_history_sync, repository_id=repo.pk)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            result = services.repository_history_sync(repository_id=repo.pk)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        runs = Run.objects.filter(pipeline__repository=repo).count()
        jobs = Job.objects.filter(run__pipeline__repository=repo).count()
        line("backfill: time", f"{elapsed:.1f} s ({runs / elapsed:.0f} runs/s)", "budget ≤ 30 s")
        line("backfill: CPU time of Bridge's process (all threads)", f"{cpu:.1f} s")
        line("backfill: runs, jobs stored", f"{runs:,}, {jobs:,}")
        line(
            "backfill: requests",
            f"{result.requests:,} ({result.state}{': ' + result.message if result.message else ''})",
        )

        writes = []

        def count_writes(execute, sql, params, many, context):
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                writes.append(sql)
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(count_writes):
            again = services.repository_history_sync(repository_id=repo.pk)
        line("reconcile, nothing new: time", f"{(time.perf_counter() - started) * 1000:.0f} ms")
        line("reconcile, nothing new: requests", f"{again.requests} (304s)", "budget ≤ 1 per repository")
        line("reconcile, nothing new: rows written", f"{len(writes)}", "budget 0")
        parent.send("done")
        served = parent.recv()
        line("fixture server: CPU time while serving (its process)", f"{served['cpu']:.1f} s")
        line("load average (1, 5, 15 min) at the end", ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        server.join(timeout=10)


if __name__ == "__main__":
    main()
