"""Fill the derived columns of rows written before 0002, and add a trigram index on PostgreSQL."""

from django.db import migrations, transaction


def backfill(apps, schema_editor):
    Entity = apps.get_model("catalog", "Entity")
    Relation = apps.get_model("catalog", "Relation")
    for e in Entity.objects.filter(ref_key__isnull=True):
        e.ref_key = f"{e.kind.lower()}:{e.namespace.lower()}/{e.name.lower()}"
        e.search_text = "\n".join([e.name, e.title, e.description]).lower()
        e.tag_text = ("," + ",".join(t.lower() for t in e.tags) + ",") if e.tags else ""
        e.save(update_fields=["ref_key", "search_text", "tag_text"])
    for r in Relation.objects.filter(source_ref="").select_related("source"):
        r.source_ref = r.source.ref_key if r.source else ""
        r.origin_id = r.source_id
        r.save(update_fields=["source_ref", "origin"])
    for r in Relation.objects.filter(type="ownedBy", source__isnull=False).select_related("source"):
        Entity.objects.filter(pk=r.source_id, owner_ref="").update(owner_ref=r.target_ref)


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        # CREATE EXTENSION needs rights the portal's role may not have: then search works, unindexed.
        with transaction.atomic():
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(
                "CREATE INDEX IF NOT EXISTS catalog_entity_search_trgm "
                "ON catalog_entity USING gin (search_text gin_trgm_ops)"
            )
    except Exception:  # noqa: BLE001, S110  # nosec B110: without the extension, LIKE still works
        pass


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_entity_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_entity_import_fields")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(trigram_index, drop_trigram_index),
    ]
