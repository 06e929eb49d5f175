"""Page search indexes take each save at once (PostgreSQL): no pending list for searches to scan.

With GIN's default ``fastupdate``, new entries wait in a pending list that every search reads
in full until autovacuum merges it; after a few large pages are saved, searches took
hundreds of milliseconds. A wiki is read far more often than written, so saves pay instead.
"""

from django.db import migrations

INDEXES = ["knowledge_page_search_gin", "knowledge_page_title_fts"]


def without_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index in INDEXES:
            schema_editor.execute(f"ALTER INDEX IF EXISTS {index} SET (fastupdate = off)")
            schema_editor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])


def with_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index in INDEXES:
            schema_editor.execute(f"ALTER INDEX IF EXISTS {index} SET (fastupdate = on)")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0004_revision_render")]

    operations = [migrations.RunPython(without_pending_list, with_pending_list)]
