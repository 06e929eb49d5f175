"""A full-text index on page titles (PostgreSQL): title matches are always among the ranked candidates."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # The same expression Django writes for SearchVector("title", config="english").
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS knowledge_page_title_fts ON knowledge_page "
            "USING gin (to_tsvector('english'::regconfig, COALESCE(title, '')))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS knowledge_page_title_fts")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_search_gin_index")]

    operations = [migrations.RunPython(create, drop)]
