"""Relations between entities: bulk inserts, resolving references, adding one by hand."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Exists, OuterRef, Subquery

from catalog import selectors
from catalog.models import Entity, Relation
from catalog.services.common import CHUNK, _batches, entity_ref


def _copy_line(row: tuple) -> str:
    """One row in COPY's text format; only the two ids may be NULL (a reference not resolved yet)."""
    origin, source_ref, source_id, type_, target_ref, target_id = row
    source_id = r"\N" if source_id is None else source_id
    target_id = r"\N" if target_id is None else target_id
    return f"{origin}\t{source_ref}\t{source_id}\t{type_}\t{target_ref}\t{target_id}\n"


def _insert_relations(rows: Iterable[tuple]) -> None:
    """Rows are (origin_id, source_ref, source_id, type, target_ref, target_id)."""
    batches = _batches(rows, 20000)
    if connection.vendor == "postgresql":
        table = Relation._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {table} (origin_id, source_ref, source_id, type, target_ref, target_id) FROM STDIN"  # noqa: S608
            ) as copy,
        ):
            # Refs are validated names (no tab, newline or backslash), so the text format needs no escaping.
            for batch in batches:
                copy.write("".join(_copy_line(row) for row in batch))
        return
    for batch in batches:
        Relation.objects.bulk_create(
            [
                Relation(origin_id=o, source_ref=sr, source_id=si, type=t, target_ref=tr, target_id=ti)
                for o, sr, si, t, tr, ti in batch
            ],
            batch_size=CHUNK,
        )


def _resolve_relations() -> None:
    """Fill the foreign keys of relations whose entity now exists (unresolved -> resolved)."""
    by_target = Entity.objects.filter(ref_key=OuterRef("target_ref"))
    Relation.objects.filter(target__isnull=True).filter(Exists(by_target)).update(
        target_id=Subquery(by_target.values("id")[:1])
    )
    by_source = Entity.objects.filter(ref_key=OuterRef("source_ref"))
    Relation.objects.filter(source__isnull=True).filter(Exists(by_source)).update(
        source_id=Subquery(by_source.values("id")[:1])
    )


def relation_add(*, source: Entity, type: str, target_ref: str) -> Relation:
    """Add one relation by hand (kept for callers outside imports); the target may not exist yet."""
    target = selectors.entity_by_ref(target_ref)
    relation, _ = Relation.objects.update_or_create(
        origin=source,
        source_ref=source.ref_key or entity_ref(source.kind, source.namespace, source.name),
        type=type,
        target_ref=target_ref,
        defaults={"target": target, "source": source},
    )
    return relation
