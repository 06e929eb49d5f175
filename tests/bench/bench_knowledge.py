"""Knowledge base benchmark; prints figures, not part of the pass/fail suite.

Run: ``.venv/bin/pytest tests/bench/bench_knowledge.py -s`` (with DATABASE_URL for PostgreSQL).
Budgets (issue 7): rendering a 200 KB page <= 100 ms, cached per revision (a page view, served from
the render stored at save; the one-time render itself is printed too); search over
20,000 pages on PostgreSQL p95 <= 50 ms; history of 1,000 revisions as fast as of ten.
"""

import random
import statistics
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import selectors, services
from knowledge.models import Page, Revision, RevisionRender
from knowledge.rendering import render_markdown
from tests.bench.machine import reference_figures
from tests.knowledge.conftest import make_team

WORDS = [
    "database",
    "replica",
    "failover",
    "latency",
    "queue",
    "worker",
    "deploy",
    "rollback",
    "cache",
    "redis",
    "kafka",
    "timeout",
    "retry",
    "checkout",
    "payment",
    "invoice",
    "alert",
    "dashboard",
    "cluster",
    "node",
    "pod",
    "ingress",
    "certificate",
    "dns",
    "token",
    "secret",
]


def _doc(size: int) -> str:
    rng = random.Random(7)
    parts, total = [], 0
    while total < size:
        block = rng.choice(
            [
                "## " + " ".join(rng.choices(WORDS, k=4)).title() + "\n\n",
                " ".join(rng.choices(WORDS, k=60)) + ". [[Some page]] and `code`.\n\n",
                "```python\nfor i in range(10):\n    print(i)\n```\n\n",
                "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n",
                "- [ ] check " + rng.choice(WORDS) + "\n- [x] done\n\n",
                '!!! note "Note"\n    ' + " ".join(rng.choices(WORDS, k=20)) + "\n\n",
            ]
        )
        parts.append(block)
        total += len(block)
    return "".join(parts)


def write_zipf_pages(space, count: int, rng: random.Random) -> list[str]:
    """Pages of 300 words from a Zipf-like vocabulary of 5,000 words, as in real text (a tiny
    vocabulary would make every query match every page), with their search vectors; returns
    the vocabulary, most common words first."""
    vocabulary = WORDS + [f"term{n}" for n in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    for first in range(0, count, 2000):
        Page.objects.bulk_create(
            Page(
                space=space,
                title=" ".join(rng.choices(vocabulary, weights, k=3)),
                slug=f"p-{n}",
                body=" ".join(rng.choices(vocabulary, weights, k=300)),
            )
            for n in range(first, min(count, first + 2000))
        )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchVector

        Page.objects.filter(space=space).update(
            search_vector=SearchVector("title", weight="A", config="english")
            + SearchVector("body", weight="B", config="english")
        )
    return vocabulary


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@pytest.mark.django_db
def test_bench_machine_reference():
    print("\n" + reference_figures())


def test_bench_rendering_a_200_kb_page():
    text = _doc(200 * 1024)
    start = time.perf_counter()
    render_markdown(text)
    first = time.perf_counter() - start
    runs = []
    for n in range(5):
        variant = f"{text}\n\nvariant {n}\n"  # a new revision: nothing reusable from the last one
        start = time.perf_counter()
        render_markdown(variant)
        runs.append(time.perf_counter() - start)
    print(
        f"\nrender 200 KB of Markdown (done once per revision, at save): first in a process {_ms(first)}, "
        f"then median {_ms(statistics.median(runs))}, best {_ms(min(runs))}"
    )


@pytest.mark.django_db
def test_bench_viewing_a_200_kb_page(developer, teammate, client, django_capture_on_commit_callbacks):
    team = make_team("bench-team", developer, teammate)
    space = services.space_create(actor=developer, key="bench-view", name="Bench view", owner=team)
    client.force_login(developer)
    # The first request of a process compiles templates and URL patterns; not the page's cost.
    client.get(services.page_create(actor=developer, space=space, title="Warm-up", body="hi").get_absolute_url())
    start = time.perf_counter()
    with django_capture_on_commit_callbacks(execute=True):
        page = services.page_create(actor=developer, space=space, title="Big page", body=_doc(200 * 1024))
    save = time.perf_counter() - start

    def view() -> float:
        start = time.perf_counter()
        assert client.get(page.get_absolute_url()).status_code == 200
        return time.perf_counter() - start

    first = view()
    later = statistics.median(view() for _ in range(20))
    RevisionRender.objects.filter(revision__page=page).delete()
    unstored = view()
    print(
        f"\nview of a 200 KB page over HTTP (budget 100 ms, rendered once per revision and stored): "
        f"save incl. render {_ms(save)}; first view {_ms(first)}, later views median {_ms(later)}; "
        f"a view that finds no stored render (renderer upgraded) {_ms(unstored)}"
    )


@pytest.mark.django_db
def test_bench_history_of_1000_revisions_vs_10(developer, teammate, client):
    team = make_team("bench-team", developer, teammate)
    space = services.space_create(actor=developer, key="bench", name="Bench", owner=team)
    timings = {}
    for count in (10, 50, 1000):
        page = services.page_create(actor=developer, space=space, title=f"History {count}", body="x" * 5000)
        Revision.objects.bulk_create(
            Revision(page=page, number=n, title=page.title, body="y" * 5000, author=developer)
            for n in range(2, count + 1)
        )
        client.force_login(developer)
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                client.get(page.url_for("page-history"))
            runs.append(time.perf_counter() - start)
        timings[count] = (statistics.median(runs), len(queries))
    # A history page lists 50 revisions: 10 revisions show 10 rows, 50 and 1,000 show 50.
    figures = [f"{count} revisions {_ms(median)} ({queries} queries)" for count, (median, queries) in timings.items()]
    print("\nhistory: " + ", ".join(figures))


# Committed and vacuumed, as autovacuum leaves the table in a running portal: inside the test's
# own open transaction every one of the 20,000 just-updated rows would still carry its dead twin.
@pytest.mark.django_db(transaction=True)
def test_bench_search_over_20000_pages(developer, teammate):
    team = make_team("bench-team", developer, teammate)
    space = services.space_create(actor=developer, key="bench", name="Bench", owner=team)
    rng = random.Random(3)
    vocabulary = write_zipf_pages(space, 20000, rng)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE knowledge_page")

    def searches(count: int, page: int = 1) -> tuple[float, float, float]:
        runs, found = [], []
        for _ in range(count):
            query = " ".join(rng.choices(vocabulary[10:400], k=2))
            start = time.perf_counter()
            results = selectors.search_page(query=query, number=page, per_page=20, to_last_page=False).results
            found.append(len(results.hits))
            runs.append(time.perf_counter() - start)
        runs.sort()
        return statistics.median(runs), runs[int(len(runs) * 0.95) - 1], statistics.mean(found)

    median, p95, shown = searches(200)
    print(
        f"\nsearch over 20,000 pages on {connection.vendor}: median {_ms(median)}, "
        f"p95 {_ms(p95)} (budget 50 ms on PostgreSQL), {shown:.0f} hits shown per query"
    )
    median, p95, shown = searches(100, page=3)
    print(f"the third page of those results: median {_ms(median)}, p95 {_ms(p95)}, {shown:.0f} hits shown per query")
    # Long pages cost most in the snippets: a query whose 20 results are 200 KB pages.
    big = _doc(200 * 1024)
    for n in range(20):
        services.page_create(actor=developer, space=space, title=f"Long page {n}", body=f"zanzibar {n}\n\n{big}")
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        assert len(selectors.search_pages(query="zanzibar", limit=20)) == 20
        runs.append(time.perf_counter() - start)
    print(f"search whose 20 results are 200 KB pages: median {_ms(statistics.median(runs))}")
    median, p95, _ = searches(100)
    print(f"search right after those 20 saves, before any vacuum: median {_ms(median)}, p95 {_ms(p95)}")
