"""After a large import on PostgreSQL a real worker vacuums the entity table, so deep list pages read an index alone."""

import pytest
from django.db import connection

from catalog import services
from catalog.models import Entity
from tests.worker import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="VACUUM and index-only scans are PostgreSQL's"),
]

COMPONENTS = 2400
PER_PAGE = 50


def rows_read_from_the_table_to_find_a_deep_pages_ids() -> int:
    """What PostgreSQL reads from the table itself (not the index) to find the ids of page 41 of 48."""
    first = (COMPONENTS - 9 * PER_PAGE) // PER_PAGE * PER_PAGE
    ids = Entity.objects.order_by("name", "kind", "pk").values("pk")[first : first + PER_PAGE]
    sql, params = ids.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")  # 2,400 rows are few enough to sort; 21,000 are not
        try:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET enable_sort")
    scans, pending = [], [plan]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", []))
        if node["Node Type"] == "Index Only Scan":
            scans.append(node)
    assert [scan["Index Name"] for scan in scans] == ["catalog_entity_name_kind"], plan
    return scans[0]["Heap Fetches"]


@pytest.fixture
def no_autovacuum():
    """Where autovacuum is on it could get there first; this test is about the import's own vacuum."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_entity SET (autovacuum_enabled = false)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_entity RESET (autovacuum_enabled)")


def test_after_a_large_import_a_worker_vacuums_so_a_deep_page_finds_its_ids_in_the_index(celery_worker, no_autovacuum):
    components = "".join(
        f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i:05d}}}\n"
        "spec: {type: service, lifecycle: production, owner: group:team-a}\n"
        for i in range(COMPONENTS)
    )
    result = services.catalog_import_text(text=components, name="large")
    assert len(result.created) == COMPONENTS

    vacuumed = wait_for(lambda: rows_read_from_the_table_to_find_a_deep_pages_ids() == 0, timeout=60)
    assert vacuumed, (
        f"page 41 still reads {rows_read_from_the_table_to_find_a_deep_pages_ids()} rows from the table:\n"
        + celery_worker.log_path.read_text()[-3000:]
    )
