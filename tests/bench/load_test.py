"""Load test: gunicorn, PostgreSQL, Redis and a real Celery worker under a mixed load.

Not part of the pass/fail suite. Run (it uses a scratch database that it resets):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bridge_load \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \
    .venv/bin/python tests/bench/load_test.py [--users 50] [--seconds 60]

The mix (tests/bench/locustfile.py): catalog lists and entity pages, live search
suggestions, the catalog API, GitHub webhook deliveries (out of order and
redelivered), and environment requests that a real worker plans and applies
with Terraform. It prints throughput, p95 and errors per endpoint and in all.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bridge_load")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
os.environ["DEBUG"] = "0"
# Many users sign in from 127.0.0.1 at once; the lock-out is not what is measured here.
os.environ.setdefault("AXES_FAILURE_LIMIT", "100000")

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(database_url: str) -> dict:
    """Reset the scratch database, load the demo data, and collect what the users need."""
    import dj_database_url
    import psycopg

    name = dj_database_url.parse(database_url)["NAME"]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from catalog.models import Entity
    from pipelines import services as pipelines
    from portal import services as portal
    from tests.pipelines import payloads

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    admin = get_user_model().objects.get(username="admin")
    integration = pipelines.integration_create(actor=admin, provider="github", name="Load test", repositories=["*"])
    entities = list(Entity.objects.filter(kind__in=["Component", "API", "System"]).order_by("pk")[:40])
    return {
        "username": "developer",
        "password": "bridge-demo",
        "token": portal.token_create(user=get_user_model().objects.get(username="developer"), name="load").key,
        "entity_urls": [e.get_absolute_url() for e in entities],
        "search_terms": ["pay", "checkout", "ledger", "api", "team", "runbook", "orders"],
        "github_secret": integration.secret,
        "github_path": integration.integration.receiver_path(),
        "workflow_run": payloads.workflow_run(),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args()

    database_url = os.environ["DATABASE_URL"]
    print(f"preparing {database_url} …", flush=True)
    fixture = prepare(database_url)
    work = Path(tempfile.mkdtemp(prefix="bridge-load-"))
    fixture_path = work / "fixture.json"
    fixture_path.write_text(json.dumps(fixture))

    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    web_log = open(work / "web.log", "w")  # noqa: SIM115  (kept open for the process's lifetime)
    worker_log = open(work / "worker.log", "w")  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.web_workers),
                "--threads",
                "4",
                "--timeout",
                "60",
                # Longer than any client's idle gap, so no request races a closing keep-alive connection.
                "--keep-alive",
                "75",
            ],
            cwd=ROOT,
            env=env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "portal",
                "worker",
                "-Q",
                "default,provisioning",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        prefix = work / "stats"
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "tests/bench/locustfile.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(max(1, args.users // 5)),
                "-t",
                f"{args.seconds}s",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=dict(env, BRIDGE_LOAD_FIXTURE=str(fixture_path)),
            check=False,
            timeout=args.seconds + 120,
        )
        rows = list(csv.DictReader(open(f"{prefix}_stats.csv")))  # noqa: SIM115
        print(
            f"\n{args.users} users for {args.seconds} s against gunicorn ({args.web_workers} workers), "
            "PostgreSQL, Redis and a Celery worker:"
        )
        print(f"{'endpoint':48} {'requests':>9} {'failures':>9} {'req/s':>8} {'median ms':>10} {'p95 ms':>8}")
        for row in rows:
            print(
                f"{(row['Type'] + ' ' + row['Name'])[:48]:48} {row['Request Count']:>9} {row['Failure Count']:>9} "
                f"{float(row['Requests/s']):8.1f} {row['Median Response Time']:>10} {row['95%']:>8}"
            )
        total = next(r for r in rows if r["Name"] == "Aggregated")
        print(
            f"\nthroughput {float(total['Requests/s']):.1f} requests/s, p95 {total['95%']} ms, "
            f"errors {total['Failure Count']} of {total['Request Count']}"
        )
        return 0 if int(total["Failure Count"]) == 0 else 1
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
