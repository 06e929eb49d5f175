"""Catalog benchmark: ``python -m tests.bench.catalog_bench --components 10000``.

Generates a catalog of the same shape as Backstage's benchmark (N components,
N APIs, N/50 groups, N/10 systems), imports it into the database that
``DATABASE_URL`` names (use PostgreSQL for figures worth keeping), then times
re-import, list pages, lookups by reference, counts, facets and text search,
and prints each figure with the data size. It is not collected by pytest.

The database must be a scratch one: the benchmark deletes every entity first.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path


def generate(n: int, out: Path) -> int:
    """Write the synthetic catalog (groups-systems.yaml, apis.yaml, components.yaml); returns the entity count."""
    groups, systems = max(1, n // 50), max(1, n // 10)
    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, docs: list[str]) -> None:
        (out / name).write_text("\n---\n".join(docs) + "\n")

    write(
        "groups-systems.yaml",
        [
            f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-{g}\n"
            f"spec:\n  type: team\n  children: []"
            for g in range(groups)
        ]
        + [
            f"apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-{s}\n"
            f"spec:\n  owner: group:team-{s % groups}"
            for s in range(systems)
        ],
    )
    write(
        "apis.yaml",
        [
            f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{i}\n"
            f"  description: API of service {i}\nspec:\n  type: openapi\n  lifecycle: production\n"
            f"  owner: group:team-{i % groups}\n  system: system-{i % systems}\n  definition: |\n"
            f"    openapi: 3.0.0\n    info: {{title: api-{i}, version: 1.0.0}}\n    paths: {{}}"
            for i in range(n)
        ],
    )
    write(
        "components.yaml",
        [
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: service-{i}\n"
            f"  description: Synthetic service {i}\n  tags: [synthetic, python]\n  annotations:\n"
            f"    backstage.io/techdocs-ref: dir:.\nspec:\n  type: service\n  lifecycle: production\n"
            f"  owner: group:team-{i % groups}\n  system: system-{i % systems}\n  dependsOn:\n"
            f"    - component:service-{(i + 1) % n}\n    - component:service-{(i + 7) % n}\n"
            f"  providesApis:\n    - api-{i}"
            for i in range(n)
        ],
    )
    return 2 * n + groups + systems


def empty_catalog(connection) -> None:
    """Start from nothing without loading 100,000 rows into Django's delete collector."""
    from catalog.models import Entity, Relation, ScorecardResult

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE catalog_scorecardresult, catalog_relation, catalog_entity CASCADE")
            cursor.execute("VACUUM ANALYZE catalog_entity")
            cursor.execute("VACUUM ANALYZE catalog_relation")
    else:
        for model in (ScorecardResult, Relation, Entity):
            model.objects.all()._raw_delete(connection.alias)


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median and p95 in milliseconds over ``repeat`` calls (after two warm-up calls)."""
    for _ in range(2):
        fn(0)
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="leave the catalog in the database afterwards")
    parser.add_argument("--skip-import", action="store_true", help="time the reads of the catalog already there")
    parser.add_argument("--import-only", action="store_true", help="time the import and the re-import, then stop")
    args = parser.parse_args()
    n = args.components

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from catalog import selectors, services
    from catalog.filters import EntityFilterSet
    from catalog.models import Entity

    call_command("migrate", verbosity=0)
    if not args.skip_import:
        empty_catalog(connection)
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {db}; N = {n:,} components")

    def line(label: str, value: str) -> None:
        print(f"  {label:<52} {value}")

    if not args.skip_import:
        with tempfile.TemporaryDirectory() as tmp:
            total = generate(n, Path(tmp))
            files = sorted(str(p) for p in Path(tmp).glob("*.yaml"))
            print(f"  catalog: {total:,} entities")
            start = time.perf_counter()
            result = services.catalog_import_paths(paths=files, restrict_to_roots=False)
            elapsed = time.perf_counter() - start
            assert not result.problems, result.problems[:3]
            line(f"import, end to end ({total:,} entities)", f"{elapsed:.2f} s ({total / elapsed:,.0f} entities/s)")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            line("peak memory of this process after the import", f"{peak:.0f} MiB")
            start = time.perf_counter()
            again = services.catalog_import_paths(paths=files, restrict_to_roots=False)
            line(f"re-import unchanged ({total:,} entities)", f"{time.perf_counter() - start:.2f} s")
            assert not again.created and not again.updated, again.summary()
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
            line("load average after the re-import", load)
            if args.import_only:
                return

    if connection.vendor == "postgresql":
        # What autovacuum does shortly after a large import: keeps index-only counts index-only.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE catalog_entity")
            cursor.execute("VACUUM ANALYZE catalog_relation")

    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-user")
    client = Client()
    client.force_login(user)
    groups = max(1, n // 50)

    def api_list(i):
        r = client.get("/api/catalog/entities/", {"kind": "Component", "page": 1 + i % 20})
        assert r.status_code == 200, r.status_code

    def html_list(i):
        r = client.get("/catalog/", {"kind": "Component", "page": 1 + i % 20})
        assert r.status_code == 200, r.status_code

    def api_by_ref(i):
        r = client.get(f"/api/catalog/entities/by-ref/component:default/service-{(i * 7919) % n}")
        assert r.status_code == 200, r.status_code

    def selector_by_ref(i):
        assert selectors.entity_by_ref(f"component:default/service-{(i * 7919) % n}") is not None

    def filtered_count(i):
        EntityFilterSet({"kind": ["Component"], "owner": f"team-{i % groups}"}, Entity.objects.all()).qs.count()

    def facets(i):
        selectors.facet_counts(EntityFilterSet({"kind": ["Component"]}, Entity.objects.all()).qs)

    def text_search(i):
        qs = EntityFilterSet({"q": f"service {(i * 31) % n}9"}, Entity.objects.all()).qs
        list(qs[:50])

    def entity_page(i):
        r = client.get(f"/catalog/Component/default/service-{(i * 7919) % n}/")
        assert r.status_code == 200, r.status_code

    repeat = args.repeat
    with override_settings(DEBUG=False):
        for label, fn in (
            ("API list page of 50, kind=Component", api_list),
            ("HTML list page of 50 with facets, kind=Component", html_list),
            ("API entity by reference", api_by_ref),
            ("entity by reference (selector)", selector_by_ref),
            ("filtered count (kind + owner)", filtered_count),
            ("facet counts (kind, type, lifecycle, owner)", facets),
            ("substring text search, first 50", text_search),
            ("HTML entity page", entity_page),
        ):
            median, p95 = timed(fn, repeat)
            line(f"{label} (median / p95)", f"{median:.1f} / {p95:.1f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = "serving only" if args.skip_import else "import + serving"
    line(f"peak memory of this process ({label})", f"{peak:.0f} MiB")
    if not args.keep:
        empty_catalog(connection)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
