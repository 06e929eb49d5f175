"""An index for name-prefix lookups (the global search box's first tier) on PostgreSQL."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'CREATE INDEX IF NOT EXISTS catalog_entity_lname_prefix ON catalog_entity ((lower(name) COLLATE "C"))'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_entity_lname_prefix")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_scorecards")]

    operations = [migrations.RunPython(create, drop)]
