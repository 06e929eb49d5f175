"""Catalog from Git benchmark: ``python -m tests.bench.bench_git_locations [--repositories 1000]``.

The shared generator (``../shared/bench/gen_catalog.py``, N = 10,000: 21,200 entities) is split
into 1,000 repositories, each with one ``catalog-info.yaml`` of about 21 entities, committed
with real ``git`` and served over smart HTTP by ``git http-backend`` (tests/gitserver.py) and
through the simulated GitHub API (tests/githost_api.py, recorded responses), in a separate
process so that the servers do not share this process's interpreter. Then it measures, and
prints with their budgets (issue 16):

1. discovery of the organisation, from nothing until all 21,200 entities are served by the API;
2. the scheduled refresh of the 1,000 unchanged locations, and the rows it wrote;
3. a push that changes one file, until the change is visible in the API: the signed webhook goes
   to the pipelines receiver, a real Celery worker (Redis, ``CELERY_BROKER_URL``) drains it, the
   catalog hears ``git_pushed`` and refreshes the location.

Use a scratch database (it empties the catalog): ``DATABASE_URL=postgres://…/scratch`` and
``CELERY_BROKER_URL=redis://127.0.0.1:6379/N``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = "bench"


def find_generator(given: str) -> Path:
    for candidate in (given, ROOT.parent / "shared/bench/gen_catalog.py", Path("/work/shared/bench/gen_catalog.py")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit("gen_catalog.py not found: pass --generator PATH (it lives in ../shared/bench/)")


def split_catalog(folder: Path, repositories: int) -> dict[str, str]:
    """The generator's three files as one catalog-info.yaml per repository (round robin by document)."""
    repos: list[list[str]] = [[] for _ in range(repositories)]
    index = 0
    for name in ("groups-systems.yaml", "apis.yaml", "components.yaml"):
        for doc in (folder / name).read_text().split("\n---\n"):
            if doc.strip():
                repos[index % repositories].append(doc.strip())
                index += 1
    return {f"{OWNER}/repo-{i:04d}": "\n---\n".join(docs) + "\n" for i, docs in enumerate(repos)}


def serve(conn, root: str, files: dict[str, str]) -> None:
    """In a child process: the Git server and the GitHub API over the repositories; then commands."""
    sys.path.insert(0, str(ROOT))
    from tests.githost_api import GitHostAPI
    from tests.gitserver import GitServer

    git = GitServer(Path(root)).start()
    api = GitHostAPI(git, "github").start()
    for slug, text in files.items():
        git.commit(slug, {"catalog-info.yaml": text, "README.md": f"# {slug}\n"})
        api.add(slug)
    conn.send({"git": git.host, "git_url": git.base_url, "api": api.api_url})
    while True:
        command = conn.recv()
        if command[0] == "commit":
            _, slug, changes = command
            conn.send(git.commit(slug, changes))
        elif command[0] == "requests":
            conn.send(len(api.requests))
        else:
            break
    api.stop()
    git.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=10000)
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=5)
    parser.add_argument("--generator", default="")
    parser.add_argument("--profile", action="store_true", help="print where discovery spends its time")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from catalog import services
    from catalog.models import CatalogLocation, Discovery, Entity, Relation
    from portal.githosts import integrations
    from tests.bench.catalog_bench import empty_catalog

    call_command("migrate", verbosity=0)
    empty_catalog(connection)
    CatalogLocation.objects.all().delete()
    Discovery.objects.all().delete()
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]

    def line(label: str, value: str, budget: str = "") -> None:
        print(f"  {label:<58} {value:<28} {budget}")

    with tempfile.TemporaryDirectory(prefix="bench-git-") as tmp:
        generated = Path(tmp) / "generated"
        subprocess.run(  # noqa: S603 - our own generator, fixed arguments
            [sys.executable, str(find_generator(args.generator)), str(args.components), str(generated)],
            check=True,
            capture_output=True,
        )
        files = split_catalog(generated, args.repositories)
        total = sum(len([d for d in text.split("\n---\n") if d.strip()]) for text in files.values())
        print(f"database: {db}; {total:,} entities in {len(files):,} repositories")

        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        server = context.Process(target=serve, args=(child, tmp, files), daemon=True)
        server.start()
        hosts = parent.recv()
        line("repositories committed and served (setup)", f"{time.perf_counter() - started:.1f} s")
        configured = json.dumps(
            [
                {
                    "type": "github",
                    "host": hosts["git"],
                    "api_base_url": hosts["api"],
                    "token": "ghp_bench_token",
                    "allow_private_addresses": True,
                }
            ]
        )
        settings.GIT_INTEGRATIONS = configured
        os.environ["GIT_INTEGRATIONS"] = configured
        integrations.forget()
        client = Client()
        from django.contrib.auth import get_user_model

        user, _ = get_user_model().objects.get_or_create(username="bench-user")
        client.force_login(user)

        # 1. Discovery from nothing until every entity is served.
        start = time.perf_counter()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        _discovery, scan = services.discovery_add(actor=None, host=hosts["git"], owner=OWNER)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        served = client.get("/api/catalog/entities/", {"page_size": 1}).json()["count"]
        elapsed = time.perf_counter() - start
        assert served == total, (served, total, scan.summary())
        line(
            f"discovery, nothing -> {served:,} entities served",
            f"{elapsed:.1f} s",
            "budget <= 60 s (Backstage 230-257 s)",
        )
        line("  of which: scan result", scan.summary()[:60])

        # 2. Scheduled refresh of the unchanged locations: time and rows written.
        written = {"statements": 0, "rows": 0, "tables": set()}

        def count_writes(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            verb = sql.lstrip().split(" ", 1)[0].upper()
            if verb in ("INSERT", "UPDATE", "DELETE", "COPY"):
                written["statements"] += 1
                written["rows"] += max(0, context["cursor"].rowcount)
                written["tables"].add(sql.split('"')[1] if '"' in sql else sql[:40])
            return result

        rows_before = (Entity.objects.count(), Relation.objects.count())
        with connection.execute_wrapper(count_writes):
            start = time.perf_counter()
            sweep = services.locations_refresh_all()
            elapsed = time.perf_counter() - start
        bookkeeping = {t for t in written["tables"] if t == "catalog_locationsweep"}
        other = written["tables"] - bookkeeping
        line(
            f"scheduled refresh of {sweep.checked:,} unchanged locations",
            f"{elapsed:.2f} s",
            "budget <= 10 s",
        )
        line(
            "  rows written to entities, relations and locations",
            f"{0 if not other else written['rows']} ({', '.join(sorted(other)) or 'none'})",
            "budget 0",
        )
        line("  bookkeeping: the one sweep record", f"{len(bookkeeping)} row" if bookkeeping else "none")
        assert sweep.changed == 0 and (Entity.objects.count(), Relation.objects.count()) == rows_before

        # 3. Push -> visible in the API, through the receiver, a real worker and the catalog's task.
        from pipelines import secrets as webhook_secrets
        from pipelines import services as pipeline_services
        from tests.worker import CeleryWorker, purge_broker

        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            print("  push: skipped (set CELERY_BROKER_URL to a Redis database for the worker)")
        else:
            hook = pipeline_services.integration_create(actor=None, provider="github", name=f"bench {uuid.uuid4()}")
            env = os.environ.copy()
            env["DATABASE_URL"] = os.environ.get("DATABASE_URL", "")
            worker = CeleryWorker(env, concurrency=2)
            purge_broker()
            worker.start()
            try:
                samples = []
                for number in range(args.pushes):
                    slug = f"{OWNER}/repo-{(number * 37) % len(files):04d}"
                    text = files[slug]
                    marker = f"pushed {number} {uuid.uuid4().hex[:8]}"
                    name = next(
                        d.split("name: ", 1)[1].split("\n", 1)[0]
                        for d in text.split("\n---\n")
                        if "kind: Component" in d
                    )
                    changed = text.replace(f"name: {name}\n", f"name: {name}\n  title: {marker}\n", 1)
                    start = time.perf_counter()
                    parent.send(("commit", slug, {"catalog-info.yaml": changed}))
                    sha = parent.recv()
                    files[slug] = changed
                    body = json.dumps(
                        {
                            "ref": "refs/heads/main",
                            "before": "0" * 40,
                            "after": sha,
                            "commits": [
                                {
                                    "id": sha,
                                    "timestamp": "2026-12-01T10:00:00Z",
                                    "added": [],
                                    "removed": [],
                                    "modified": ["catalog-info.yaml"],
                                }
                            ],
                            "head_commit": {"id": sha, "timestamp": "2026-12-01T10:00:00Z"},
                            "repository": {
                                "full_name": slug,
                                "name": slug.split("/")[1],
                                "html_url": f"{hosts['git_url']}/{slug}",
                                "clone_url": f"{hosts['git_url']}/{slug}.git",
                                "default_branch": "main",
                            },
                        }
                    ).encode()
                    response = client.post(
                        hook.integration.receiver_path(),
                        data=body,
                        content_type="application/json",
                        HTTP_X_GITHUB_EVENT="push",
                        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
                        HTTP_X_HUB_SIGNATURE_256=webhook_secrets.github_signature(hook.secret, body),
                    )
                    assert response.status_code == 202, response.content
                    url = f"/api/catalog/entities/by-ref/component:default/{name}"
                    deadline = time.perf_counter() + 60
                    with override_settings(DEBUG=False):
                        while client.get(url).json().get("title") != marker:
                            if time.perf_counter() > deadline:
                                raise SystemExit(f"push {number} not visible after 60 s; see {worker.log_path}")
                            time.sleep(0.05)
                    samples.append(time.perf_counter() - start)
                line(
                    f"push -> change visible in the API (median / max of {len(samples)})",
                    f"{statistics.median(samples):.2f} / {max(samples):.2f} s",
                    "budget <= 5 s (Backstage 100-150 s)",
                )
            finally:
                worker.stop()
        parent.send(("stop",))
        server.join(timeout=30)


if __name__ == "__main__":
    main()
