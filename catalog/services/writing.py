"""Writing parsed entities in bulk: upsert, relations, orphaning, audit."""

from __future__ import annotations

import json

import orjson
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from catalog import permissions
from catalog.descriptors import Problem, format_ref
from catalog.models import Entity, Relation
from catalog.services.common import (
    ENTITY_FIELDS,
    ImportResult,
    _Batch,
    _chunks,
    _entity_rows,
    _ids_by_ref,
    _Parsed,
    _Stored,
    catalog_changed,
)
from catalog.services.membership import _MembershipDiff
from catalog.services.orphans import _orphan
from catalog.services.owners import _check_owners, _record_conflicts
from catalog.services.relations import _insert_relations, _resolve_relations
from catalog.services.scorecards import _rescore_on_commit
from portal.permissions import is_platform_admin
from portal.services import audit_record

_STORED_COLUMNS = ("ref_key", "id", "fingerprint", "orphaned", "owner_ref", "source")
# An import that writes this many entities has PostgreSQL's statistics refreshed when it commits.
ANALYZE_AFTER_ENTITIES = 1000


def _fetch_existing(keys=(), *, sources=()) -> dict[str, _Stored]:
    """ref -> what an import needs to know of the stored entities among ``keys`` or written by ``sources``.

    ``sources``: an import asks once for everything its sources wrote last time, so re-importing
    them unchanged needs no other lookup. On PostgreSQL each question is one query whatever its
    size (an array parameter, not thousands of placeholders).
    """
    existing: dict[str, _Stored] = {}
    for column, values in (("ref_key", keys), ("source", sources)):
        for row in _entity_rows(column, values, _STORED_COLUMNS):
            existing[row[0]] = _Stored(*row[1:])
    return existing


def _row(item: _Parsed, now) -> dict:
    """The column values of one entity (plain dicts: 20,000 model instances cost seconds)."""
    d = item.descriptor
    return {
        "kind": d.kind,
        "namespace": d.namespace,
        "name": d.name,
        "api_version": d.api_version,
        "title": d.title,
        "description": d.description,
        "spec_type": d.spec_type[:100],
        "lifecycle": d.lifecycle[:100],
        "labels": d.labels,
        "annotations": d.annotations,
        "tags": d.tags,
        "links": d.links,
        "spec": d.spec,
        "owner_ref": d.owner_ref,
        "system_ref": d.system_ref,
        "tag_text": d.tag_text[:2000],
        "search_text": d.search_text,
        "source": item.source[:1000],
        "orphaned": False,
        "fingerprint": item.fingerprint,
        "updated_at": now,
        "ref_key": d.ref_key,
    }


def _check_may_write(
    actor, parsed: dict[str, _Parsed], existing: dict, result: ImportResult, team_ref: str = ""
) -> dict[str, _Parsed]:
    """Non-admins may only write entities their teams own, and only keep them with their teams.

    In an upload made for one team (``team_ref``), that team must own every entity.
    """
    if actor is None or is_platform_admin(actor):
        return parsed
    team_refs = permissions.team_refs_of(actor)
    if team_ref:
        team_refs = team_refs & {team_ref}
    allowed: dict[str, _Parsed] = {}
    for key, item in parsed.items():
        if item.descriptor is None:  # unchanged: nothing is written
            allowed[key] = item
            continue
        current_owner = existing[key].owner_ref if key in existing else None
        owner = item.descriptor.owner_ref
        if owner and owner in team_refs and (current_owner is None or current_owner in team_refs):
            allowed[key] = item
        else:
            whose = f"{format_ref(team_ref)} owns, in its uploads" if team_ref else "one of your teams owns"
            result.problems.append(
                Problem(
                    file=item.label or item.source,
                    document=item.document,
                    field="spec.owner",
                    reason=f"you may only import entities that {whose}; ask a Platform Admin",
                    entity=key,
                )
            )
    return allowed


def _write(
    batch: _Batch,
    result: ImportResult,
    *,
    actor,
    scope: list[tuple[str, str]],
    team_ref: str = "",
    audit: bool = True,
    membership_actor=None,
    orphan_with=None,
) -> None:
    """Upsert the parsed entities, replace their relations, resolve references, orphan what vanished.

    Copies of entities that another source owns are refused (conflicts, recorded for both sources).
    ``orphan_with`` replaces ``_orphan`` (same arguments) where the scope has many entries: Git
    locations orphan per location (``catalog.services.git_locations``).
    """
    now = timezone.now()
    if batch.existing is None:
        batch.existing = _fetch_existing(batch.parsed)
    existing = batch.existing
    owned = _check_owners(batch, result, scope)
    parsed = _check_may_write(actor, owned, existing, result, team_ref)
    # For orphaning: the source each entity this import saw has once written (a refused one keeps its own).
    seen = {key: item.source for key, item in parsed.items()}
    seen.update((key, existing[key].source) for key in owned.keys() - parsed.keys() if key in existing)

    new_items: list[_Parsed] = []
    changed: list[Entity] = []
    changed_items: list[tuple[int, _Parsed]] = []
    for key, item in parsed.items():
        if item.descriptor is None:
            result.unchanged += 1
            continue
        if key in existing:
            entity_id, fingerprint, orphaned = existing[key][:3]
            if fingerprint == item.fingerprint and not orphaned:
                result.unchanged += 1
                continue
            changed.append(Entity(pk=entity_id, **_row(item, now)))
            changed_items.append((entity_id, item))
            result.updated.append(key)
        else:
            new_items.append(item)
            result.created.append(key)

    membership = _MembershipDiff.before_write(new_items, changed_items)

    known: dict[str, int] = {}
    if new_items:
        known.update(_insert_entities(new_items, now))
    if changed:
        Entity.objects.bulk_update(changed, ENTITY_FIELDS, batch_size=500)
        for chunk in _chunks([e.pk for e in changed]):
            Relation.objects.filter(origin_id__in=chunk).delete()
        known.update((e.ref_key, e.pk) for e in changed)

    written_ids = list(known.values())
    if known:
        wanted = set()
        for key in known:
            for source_ref, _type, target_ref in parsed[key].descriptor.relations:
                wanted.add(source_ref)
                wanted.add(target_ref)
        written = dict(known)
        known.update(_ids_by_ref(wanted - known.keys()))
        rows = (  # a generator: 140,000 tuples need not exist at once
            (origin_id, source_ref, known.get(source_ref), type_, target_ref, known.get(target_ref))
            for key, origin_id in written.items()
            for source_ref, type_, target_ref in parsed[key].descriptor.relations
        )
        _insert_relations(rows)
    if new_items:
        _resolve_relations()
    if connection.vendor == "postgresql" and len(new_items) + len(changed) >= ANALYZE_AFTER_ENTITIES:
        transaction.on_commit(_analyze)
        transaction.on_commit(_vacuum_in_the_worker)

    result.orphaned = (orphan_with or _orphan)(scope, seen, batch.failed, batch.listed, now)
    _record_conflicts(batch, now)
    if result.created or result.updated or result.orphaned:
        catalog_changed()
        _rescore_on_commit(written_ids)
    if audit and (result.created or result.updated or result.orphaned):
        audit_record(
            actor=actor,
            action="catalog.import",
            changes={
                "created": len(result.created),
                "updated": len(result.updated),
                "orphaned": len(result.orphaned),
                "files": result.files[:20],
            },
        )
    membership.record(actor=membership_actor if membership_actor is not None else actor, files=result.files)


def _analyze() -> None:
    """Fresh planner statistics for the catalog's tables, right after a large import.

    Until autovacuum gets to them (a minute or more; never where it is off), PostgreSQL plans the
    list pages for the table as it was before: a kind filter estimated at 16 rows of the 10,000
    just imported sorted them all, and a page took 17 ms instead of 5.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Entity._meta.db_table}, {Relation._meta.db_table}")  # noqa: S608  # nosec B608


def _vacuum_in_the_worker() -> None:
    from catalog.tasks import vacuum_after_import
    from portal.services import enqueue_safely

    enqueue_safely(vacuum_after_import)


def catalog_vacuum() -> None:
    """Mark the entity table's new rows visible to all, so index-only scans stop reading the table.

    A list page finds its rows' ids from the index on (name, kind, id) alone, but only for the
    table's pages that VACUUM has marked all-visible: right after a large import page 200 of 424
    read 10,050 rows from the table to check them (14 ms) and 0 once vacuumed (2 ms). Autovacuum
    does this a minute or so later, or never where it is off. It runs in the worker because it
    takes a few hundred milliseconds an import need not wait for, and outside a transaction
    because VACUUM cannot run inside one.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {Entity._meta.db_table}")  # noqa: S608  # nosec B608


def _insert_entities(items: list[_Parsed], now) -> dict[str, int]:
    """Insert new entities; returns their ids by ref. Rows are built one at a time, to keep memory flat."""
    if connection.vendor != "postgresql" or len(items) <= 1000:
        ids: dict[str, int] = {}
        for batch in _chunks(items):
            objs = Entity.objects.bulk_create([Entity(**_row(item, now), created_at=now) for item in batch])
            if objs and objs[0].pk is None:  # a database that does not return ids
                ids.update(_ids_by_ref(obj.ref_key for obj in objs))
            else:
                ids.update((obj.ref_key, obj.pk) for obj in objs)
        return ids
    # COPY is several times faster than INSERT; it needs the ids up front, from the table's sequence.
    table = Entity._meta.db_table
    sample = {**_row(items[0], now), "created_at": now}
    fields = [f for f in Entity._meta.concrete_fields if f.attname in sample or f.primary_key]
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    names = [f.attname for f in fields]
    ids = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(items)]
        )
        for item, (pk,) in zip(items, cursor.fetchall(), strict=True):
            ids[item.descriptor.ref_key] = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 - model names
            json_at = [i for i, n in enumerate(names) if n in json_fields]
            for item in items:
                row = _row(item, now)
                row["created_at"], row["id"] = now, ids[item.descriptor.ref_key]
                values = [row[n] for n in names]
                for i in json_at:
                    values[i] = _json(values[i])
                copy.write_row(values)
    return ids


def _json(value) -> str:
    """JSON for a jsonb column, as ``json.dumps`` writes it for these values (orjson: several times faster)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an integer too large for 64 bits, say): the standard library
        return json.dumps(value)
