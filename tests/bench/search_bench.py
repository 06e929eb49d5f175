"""Global search benchmark: ``python -m tests.bench.search_bench --components 47200 --pages 20000``.

Fills the database that ``DATABASE_URL`` names (use a scratch PostgreSQL database)
with a catalog of the shape of Backstage's benchmark (2.12 entities per component:
47,200 components make 100,000 entities), 20,000 knowledge pages with a Zipf-like
vocabulary, and the demo templates, environments and pipelines; then times the
global search that the search box and the results page run (every provider, the
user's permissions applied) for queries as people type them, and prints each figure
with its data size. It is not collected by pytest.

The database must be a scratch one: the benchmark empties it first (``manage.py flush``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.catalog_bench import generate, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=47200)
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=306)
    parser.add_argument("--skip-load", action="store_true", help="time the searches over the data already there")
    args = parser.parse_args()

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

    from catalog import services as catalog_services
    from catalog.models import Entity
    from knowledge import services as knowledge_services
    from knowledge.models import Page
    from portal.selectors import global_search
    from tests.bench.bench_knowledge import WORDS, write_zipf_pages
    from tests.bench.machine import reference_figures

    call_command("migrate", verbosity=0)
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    User = get_user_model()

    def line(label: str, value: str) -> None:
        print(f"  {label:<58} {value}", flush=True)

    if not args.skip_load:
        call_command("flush", interactive=False, verbosity=0)
        call_command("seed_demo", verbosity=0)  # templates, environments, pipelines and the demo catalog
        with tempfile.TemporaryDirectory() as tmp:
            generate(args.components, Path(tmp))
            start = time.perf_counter()
            result = catalog_services.catalog_import_paths(
                paths=sorted(str(p) for p in Path(tmp).glob("*.yaml")), restrict_to_roots=False
            )
            assert not result.problems, result.problems[:3]
            line("catalog import", f"{time.perf_counter() - start:.1f} s")
        admin = User.objects.get(username="admin")  # the demo's Platform Admin
        space = knowledge_services.space_create(actor=admin, key="search-bench", name="Search bench", owner=None)
        rng = random.Random(3)
        start = time.perf_counter()
        write_zipf_pages(space, args.pages, rng)
        line("pages written", f"{time.perf_counter() - start:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("catalog_entity", "catalog_relation", "knowledge_page"):
                cursor.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does soon after a bulk load

    user, _ = User.objects.get_or_create(username="search-bench", defaults={"email": "search-bench@example.com"})
    entities, pages = Entity.objects.count(), Page.objects.count()
    print(f"database: {db}; {entities:,} entities, {pages:,} pages")
    print(reference_figures())
    n = args.components
    rng = random.Random(11)
    typed = []
    for _ in range(50):
        name = f"service-{rng.randrange(n)}"
        typed += [name[:k] for k in (3, 5, 9, len(name))]  # what the box sends as someone types
    words = [rng.choice(WORDS) for _ in range(50)] + [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(50)]
    mixed = typed + words + ["payments", "checkout", "preview", "ci", "deploy", "no-such-thing-at-all"]
    rng.shuffle(mixed)  # every figure samples typed names, common words and phrases alike
    client = Client()
    client.force_login(user)

    def search_all(i):
        global_search(user, mixed[i % len(mixed)])

    def suggestions(i):
        response = client.get("/search/", {"q": mixed[i % len(mixed)]}, headers={"HX-Request": "true"})
        assert response.status_code == 200, response.status_code

    def results_page(i):
        response = client.get("/search/", {"q": mixed[i % len(mixed)]})
        assert response.status_code == 200, response.status_code

    with override_settings(DEBUG=False):
        for label, fn in (
            ("global search, every provider (median / p95)", search_all),
            ("live suggestions over HTTP, htmx (median / p95)", suggestions),
            ("full results page over HTTP (median / p95)", results_page),
        ):
            median, p95 = timed(fn, args.repeat)
            line(label, f"{median:.1f} / {p95:.1f} ms")
        per_provider = {}
        from portal.extensions import search_providers

        for provider in search_providers():
            samples = []
            for query in mixed:
                start = time.perf_counter()
                provider.search(user, query, 5)
                samples.append((time.perf_counter() - start) * 1000)
            samples.sort()
            per_provider[provider.key] = (statistics.median(samples), samples[int(len(samples) * 0.95)])
        for key, (median, p95) in per_provider.items():
            line(f"  provider {key} (median / p95)", f"{median:.1f} / {p95:.1f} ms")


if __name__ == "__main__":
    main()
