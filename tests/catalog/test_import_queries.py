"""How much an import asks of the database: a bounded number of queries, whatever the catalog's size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")
HEAD = "apiVersion: backstage.io/v1alpha1\n"


def catalog(n: int, prefix: str) -> str:
    """``n`` components shaped like the benchmark's (owner, system, two dependencies, an API), their team and system."""
    team, system = f"{prefix}-team", f"{prefix}-system"
    docs = [
        f"{HEAD}kind: Group\nmetadata: {{name: {team}}}\nspec: {{type: team, children: []}}",
        f"{HEAD}kind: System\nmetadata: {{name: {system}}}\nspec: {{owner: {team}}}",
    ]
    for i in range(n):
        depends = f"[component:{prefix}-{(i + 1) % n}, component:{prefix}-{(i + 7) % n}]"
        docs.append(
            f"{HEAD}kind: Component\nmetadata:\n  name: {prefix}-{i}\n  tags: [synthetic]\n"
            f"spec:\n  type: service\n  lifecycle: production\n  owner: {team}\n  system: {system}\n"
            f"  dependsOn: {depends}\n  providesApis: [{prefix}-api-{i}]"
        )
    return "\n---\n".join(docs) + "\n"


def import_counting(text: str, name: str) -> tuple[services.ImportResult, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = services.catalog_import_text(text=text, name=name)
    assert not result.problems, result.problems
    return result, [q["sql"] for q in captured.captured_queries]


def writes(queries: list[str]) -> list[str]:
    return [q for q in queries if q.lstrip().upper().startswith(WRITES)]


def test_re_importing_an_unchanged_catalog_writes_nothing_and_asks_a_few_questions():
    import_counting(catalog(200, "svc"), "bench")
    result, queries = import_counting(catalog(200, "svc"), "bench")
    assert (result.created, result.updated, result.orphaned, result.unchanged) == ([], [], [], 202)
    assert writes(queries) == []
    assert len(queries) <= 6, queries


def test_re_importing_a_large_unchanged_catalog_asks_no_more_questions_than_a_small_one():
    # 2,500 documents are parsed in three batches: their stored fingerprints still come in one query.
    import_counting(catalog(200, "small"), "small")
    import_counting(catalog(2500, "large"), "large")
    _result, small = import_counting(catalog(200, "small"), "small")
    _result, large = import_counting(catalog(2500, "large"), "large")
    assert writes(large) == []
    assert len(large) == len(small), large


def test_the_queries_of_an_import_do_not_grow_with_the_number_of_entities():
    # The first import of a process also reads what Django caches for the rest of its life (content
    # types and the like): not a cost of the catalog's size. This test may be a process's first.
    import_counting(catalog(10, "warm-up"), "warm-up")
    _result, hundred = import_counting(catalog(100, "hundred"), "hundred")
    _result, two_hundred = import_counting(catalog(200, "two-hundred"), "two-hundred")
    if connection.vendor == "postgresql":  # one INSERT or COPY per table, whatever the size
        assert len(two_hundred) == len(hundred), two_hundred
    else:  # SQLite caps a statement's parameters, so bulk inserts go a few dozen rows at a time
        assert len(two_hundred) < len(hundred) + 20, two_hundred


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_after_a_large_import_postgresql_plans_with_the_new_rows(django_capture_on_commit_callbacks):
    components = "".join(
        f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\n"
        "spec: {type: service, lifecycle: production, owner: group:team-a}\n"
        for i in range(1200)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = services.catalog_import_text(text=components, name="large")
    assert len(result.created) == 1200
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) SELECT id FROM catalog_entity WHERE kind = 'Component'")
        estimate = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    # Without fresh statistics PostgreSQL guesses a few rows, and plans list pages for a tiny table.
    assert estimate >= 1000
