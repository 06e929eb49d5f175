"""Pipelines benchmark: webhook ingestion behind gunicorn, and DORA metrics for a large team.

Not part of the pass/fail suite (pytest does not collect it). Run:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bridge_pipelines \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \
    .venv/bin/python tests/bench/bench_pipelines.py [--runs 2000] [--clients 8]

It DELETES all pipelines data in that database first. It starts gunicorn (two
workers) and one Celery worker on 127.0.0.1, replays realistic GitHub
workflow_run/workflow_job deliveries (with duplicates and out-of-order pairs),
checks that every run arrived exactly once in its final state, then times the
DORA metrics of a team with 100 services and 50,000 runs. Budgets (issues 6 and 21):
>= 300 deliveries/s with zero lost or duplicated runs; DORA <= 200 ms.

``--receiver-cpu`` measures only the receiver's CPU time per delivery in one process (no gunicorn,
no worker): a figure that does not depend on how busy a shared machine is, to compare two versions.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bridge_pipelines")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/4")
os.environ["DEBUG"] = "0"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import Entity  # noqa: E402
from pipelines import selectors, services  # noqa: E402
from pipelines.models import Delivery, Deployment, Incident, Integration, Job, Pipeline, Repository, Run  # noqa: E402
from tests.bench.ports import free_port, wait_port, wait_workers_ready  # noqa: E402
from tests.pipelines import payloads  # noqa: E402


def build_deliveries(secret: str, runs: int, seed: int = 1) -> tuple[list[tuple[dict, bytes]], int]:
    """Four events per run, 10 % sent twice with the same delivery id, neighbours swapped (out of order)."""
    rng = random.Random(seed)
    events = []
    for n in range(runs):
        run_id = 900_000 + n
        created = f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
        common = {"run_id": run_id, "created_at": created}
        for event, payload in (
            ("workflow_run", payloads.workflow_run(action="requested", status="queued", **common)),
            ("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress", **common)),
            ("workflow_job", payloads.workflow_job(run_id=run_id, job_id=run_id)),
            ("workflow_run", payloads.workflow_run(**common)),
        ):
            payload["repository"]["full_name"] = f"bench/repo-{n % 50}"
            events.append((event, json.dumps(payload).encode()))
    # out of order: swap about a third of neighbouring pairs
    for i in range(0, len(events) - 1, 2):
        if rng.random() < 0.33:
            events[i], events[i + 1] = events[i + 1], events[i]
    deliveries = []
    for event, body in events:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        }
        deliveries.append((headers, body))
        if rng.random() < 0.10:
            deliveries.append((headers, body))  # the same delivery again
    return deliveries, len(events)


def send_chunk(args) -> list[tuple[int, float]]:
    port, path, chunk = args
    results = []
    for headers, body in chunk:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            status = conn.getresponse().status
        except OSError:
            status = 0
        finally:
            conn.close()
        results.append((status, time.perf_counter() - started))
    return results


def _cpu_seconds() -> dict[int, tuple[str, int, float]]:
    """CPU time (user + system) of every process now: {pid: (command name, parent pid, seconds)}."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return table


def _cpu_by_part(before: dict, after: dict, roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds spent between two readings by each root's process tree, by PostgreSQL, and the rest.
    Processes that ended between the readings are not counted (the caller adds its waited-for children)."""

    def part_of(pid: int) -> str:
        seen = 0
        while pid > 1 and seen < 64:
            for label, root in roots.items():
                if pid == root:
                    return label
            pid, seen = after.get(pid, before.get(pid, ("", 0, 0)))[1], seen + 1
        return ""

    parts: dict[str, float] = {}
    for pid, (name, _, seconds) in after.items():
        spent = seconds - before.get(pid, (name, 0, 0.0))[2]
        if spent <= 0:
            continue
        label = part_of(pid) or ("PostgreSQL" if name.startswith("postgres") else "other processes")
        parts[label] = parts.get(label, 0.0) + spent
    return parts


def reset() -> None:
    for model in (Incident, Deployment, Job, Run, Pipeline, Repository, Delivery, Integration):
        model.objects.all().delete()
    Entity.objects.filter(name__startswith="bench-").delete()


def start_worker(env, log, concurrency: int = 2):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "default", "--concurrency", str(concurrency),
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip", "--hostname", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def ingestion(runs: int, clients: int, threads: int, worker_after: bool, worker_concurrency: int) -> None:
    new = services.integration_create(actor=None, provider="github", name="bench", repositories=["bench/*"])
    deliveries, unique = build_deliveries(new.secret, runs)
    port = free_port()
    env = {**os.environ, "DEBUG": "0"}
    log = open(ROOT / "var" / "bench-pipelines.log", "w")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "-w", "2"]
        + (["-k", "gthread", "--threads", str(threads)] if threads else ["-k", "sync"])
        + ["-b", f"127.0.0.1:{port}", "--log-level", "warning", "-c", str(ROOT / "tests/bench/gunicorn_ready.py")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = None if worker_after else start_worker(env, log, worker_concurrency)
    try:
        wait_port(port)
        wait_workers_ready(ROOT / "var" / "bench-pipelines.log", 2)
        path = new.integration.receiver_path()
        chunks = [(port, path, deliveries[i::clients]) for i in range(clients)]
        cpu_before, clients_before = _cpu_seconds(), os.times()
        started = time.perf_counter()
        with ProcessPoolExecutor(clients) as pool:
            results = [r for chunk in pool.map(send_chunk, chunks) for r in chunk]
        elapsed = time.perf_counter() - started
        roots = {"gunicorn": web.pid, "Celery worker": worker.pid if worker else -1}
        cpu_parts = _cpu_by_part(cpu_before, _cpu_seconds(), roots)
        # The clients have exited and been waited for: their CPU time is in this process's children's.
        clients_after = os.times()
        cpu_parts["load generator (clients)"] = (clients_after.children_user + clients_after.children_system) - (
            clients_before.children_user + clients_before.children_system
        )
        statuses = {}
        for status, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        latencies = sorted(latency for _, latency in results)
        print(f"deliveries sent: {len(results)} ({unique} distinct events, {len(results) - unique} duplicates)")
        print(f"HTTP statuses: {statuses}")
        print(
            f"ingestion: {len(results) / elapsed:.0f} deliveries/s over {elapsed:.1f} s with {clients} clients "
            f"(gunicorn: 2 {f'workers x {threads} threads' if threads else 'sync workers'}; "
            "load generator, web, worker and PostgreSQL on one machine)"
        )
        print(
            f"latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )
        busy = sum(cpu_parts.values())
        print(
            f"CPU during the burst: {busy / elapsed * 100:.0f} % of one core in all ({os.cpu_count()} cores); "
            + ", ".join(
                f"{label} {seconds / elapsed * 100:.0f} % ({seconds / len(results) * 1000:.2f} ms per delivery)"
                for label, seconds in sorted(cpu_parts.items(), key=lambda item: -item[1])
            )
        )
        if worker is None:
            worker = start_worker(env, log, worker_concurrency)
        drain_start = time.perf_counter()
        deadline = time.monotonic() + 600
        while Delivery.objects.filter(status="pending").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        total = time.perf_counter() - started
        print(
            f"processed end to end: {unique / total:.0f} events/s "
            f"(queue drained {time.perf_counter() - drain_start:.1f} s after the last delivery)"
        )
        run_count = Run.objects.filter(pipeline__repository__slug__startswith="bench/").count()
        final = Run.objects.filter(pipeline__repository__slug__startswith="bench/", status="success").count()
        print(
            f"runs: {run_count} (expected {runs}), in their final state: {final}, jobs: {Job.objects.count()}, "
            f"deliveries stored: {Delivery.objects.count()} (expected {unique}), "
            f"failed: {Delivery.objects.filter(status='failed').count()}, "
            f"pending: {Delivery.objects.filter(status='pending').count()}"
        )
        ok = run_count == runs and final == runs and Delivery.objects.count() == unique
        print("ingestion result:", "OK: no lost or duplicated runs" if ok else "FAILED")
    finally:
        processes = [p for p in (web, worker) if p is not None]
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def receiver_cpu(runs: int) -> None:
    """The receiver's own cost, in one process through Django's test client: CPU time per delivery.

    Independent of how busy the machine is (unlike deliveries/s over HTTP), so two versions of the
    receiver can be compared on a shared machine. Processing is not included (no worker)."""
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    new = services.integration_create(actor=None, provider="github", name="bench-cpu", repositories=["bench/*"])
    deliveries, _ = build_deliveries(new.secret, runs, seed=2)
    client = Client()
    path = new.integration.receiver_path()
    for headers, body in deliveries[:50]:  # warm up: imports, connections, caches
        client.post(path, data=body, content_type="application/json", **_meta(headers))
    Delivery.objects.all().delete()
    measured = deliveries[50:]
    cpu, wall = time.process_time(), time.perf_counter()
    statuses: dict[int, int] = {}
    for headers, body in measured:
        status = client.post(path, data=body, content_type="application/json", **_meta(headers)).status_code
        statuses[status] = statuses.get(status, 0) + 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"receiver in one process: {cpu / len(measured) * 1000:.2f} ms CPU per delivery "
        f"({len(measured) / cpu:.0f} deliveries per CPU-second), {wall / len(measured) * 1000:.2f} ms wall; "
        f"statuses {statuses}"
    )


def _meta(headers: dict) -> dict:
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}


def dora(services_count: int = 100, total_runs: int = 50_000) -> None:
    rng = random.Random(3)
    now = timezone.now()
    team = Entity.objects.create(kind="Group", name="bench-team")
    entities = Entity.objects.bulk_create(
        Entity(
            kind="Component",
            name=f"bench-svc-{i}",
            spec={"owner": "group:default/bench-team"},
            annotations={"github.com/project-slug": f"benchdora/svc-{i}"},
        )
        for i in range(services_count)
    )
    repos = Repository.objects.bulk_create(
        Repository(provider="github", slug=f"benchdora/svc-{i}", default_branch="main", entity=entities[i])
        for i in range(services_count)
    )
    pipelines = Pipeline.objects.bulk_create(Pipeline(repository=repo, name="CI") for repo in repos)
    batch = []
    for n in range(total_runs):
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        took = rng.randint(60, 1200)
        ok = rng.random() < 0.85
        batch.append(
            Run(
                pipeline=pipelines[n % services_count],
                provider_id=str(n),
                branch="main",
                status="success" if ok else "failed",
                status_rank=2,
                created_at=created,
                started_at=created,
                finished_at=created + timedelta(seconds=took),
                duration_seconds=took,
            )
        )
    Run.objects.bulk_create(batch, batch_size=5000)
    deployments = []
    for n in range(total_runs // 10):
        finished = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        deployments.append(
            Deployment(
                repository=repos[n % services_count],
                provider_id=str(n),
                environment="production",
                is_production=True,
                status="success" if rng.random() < 0.9 else "failed",
                status_rank=2,
                created_at=finished - timedelta(minutes=5),
                finished_at=finished,
                commit_at=finished - timedelta(hours=rng.randint(1, 72)),
            )
        )
    Deployment.objects.bulk_create(deployments, batch_size=5000)
    call_command("shell", "-c", "from django.db import connection; connection.cursor().execute('ANALYZE')")
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        team_repos = selectors.repositories_for_entities(selectors.team_entities(team))
        metrics = selectors.dora_metrics(team_repos, days=30)
        timings.append(time.perf_counter() - started)
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        selectors.dora_metrics(selectors.repositories_for_entities(selectors.team_entities(team)), days=30)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
    scope_timings = []
    for _ in range(5):
        started = time.perf_counter()
        list(selectors.repositories_for_entities(selectors.team_entities(team)).values_list("pk", flat=True))
        scope_timings.append(time.perf_counter() - started)
    print(f"  of which resolving the team's repositories: median {statistics.median(scope_timings) * 1000:.0f} ms")
    stats_timings = []
    for _ in range(3):
        started = time.perf_counter()
        selectors.run_stats(team_repos, 30)
        selectors.daily_series(team_repos, 30)
        stats_timings.append(time.perf_counter() - started)
    print(
        f"DORA metrics, team of {services_count} services, {total_runs} runs, {len(deployments)} deployments: "
        f"median {statistics.median(timings) * 1000:.0f} ms, best {min(timings) * 1000:.0f} ms (budget 200 ms)"
    )
    print("  " + ", ".join(f"{m.key}={m.value if m.value is None else round(m.value, 3)} ({m.band})" for m in metrics))
    print(
        f"run statistics and 30-day series for the same team: median {statistics.median(stats_timings) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000, help="distinct runs (4 events each)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent sending processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per gunicorn worker (gthread); 0: sync workers, as deploy/helm and docs/operations.md run",
    )
    parser.add_argument(
        "--worker-after", action="store_true", help="start the Celery worker only once every delivery is in"
    )
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="the Celery worker's pool processes (its default: the cores)"
    )
    parser.add_argument("--skip-ingestion", action="store_true")
    parser.add_argument("--skip-dora", action="store_true")
    parser.add_argument(
        "--receiver-cpu", action="store_true", help="only the receiver's CPU time per delivery, in one process"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    reset()
    if args.receiver_cpu:
        receiver_cpu(args.runs)
        reset()
        return
    if not args.skip_ingestion:
        ingestion(args.runs, args.clients, args.threads, args.worker_after, args.worker_concurrency)
    if not args.skip_dora:
        dora()
    reset()


if __name__ == "__main__":
    main()
