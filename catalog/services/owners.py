"""One owner per entity, as in Backstage: the source that first produced it.

Another source producing the same entity gets a conflict: its copy is not written, the
import result says so, and an ``EntityConflict`` row lets both sources' pages show it
until that source stops producing the entity (or a Platform Admin moves the entity).
"""

from __future__ import annotations

from catalog import sources
from catalog.descriptors import Problem
from catalog.models import EntityConflict
from catalog.services.common import ImportResult, _Batch, _chunks, _Claim, _ids_by_ref, _Parsed
from catalog.services.orphans import _in_scope


def _may_take_over(owner: str, key: str, batch: _Batch, scope: list[tuple[str, str]]) -> bool:
    """May a copy from another source replace the entity that ``owner`` produced?

    Yes when no source owns it (made by hand, or uploaded before sources had scopes), or when
    this import is authoritative for ``owner`` and ``owner`` no longer lists it (a descriptor
    moved from one file to another of the same folder).
    """
    if sources.is_adoptable(owner):
        return True
    return _in_scope(owner, scope) and owner not in batch.failed and (owner, key) not in batch.listed


def _check_owners(batch: _Batch, result: ImportResult, scope: list[tuple[str, str]]) -> dict[str, _Parsed]:
    """The parsed entities their sources may write; the others become claims (conflicts)."""
    allowed: dict[str, _Parsed] = {}
    for key, item in batch.parsed.items():
        stored = batch.existing.get(key)
        if (
            item.descriptor is None
            or stored is None
            or stored.source == item.source
            or _may_take_over(stored.source, key, batch, scope)
        ):
            allowed[key] = item
        else:
            batch.claims.append(_Claim(key=key, item=item, owner=stored.source))
    for claim in batch.claims:
        _report(claim, result)
    return allowed


def _report(claim: _Claim, result: ImportResult) -> None:
    owner = sources.label(claim.owner)
    result.problems.append(
        Problem(
            file=claim.item.label,
            document=claim.item.document,
            field="metadata.name",
            reason=f"conflict: {claim.key} belongs to {owner}; this copy was not imported and nothing changed. "
            "Remove it here, or ask a Platform Admin to move the entity to this source.",
            entity=claim.key,
        )
    )
    result.conflicts.append(
        {
            "entity": claim.key,
            "owner": claim.owner,
            "owner_label": owner,
            "source": claim.item.source,
            "source_label": sources.label(claim.item.source),
            "file": claim.item.label,
            "document": claim.item.document,
        }
    )


def _record_conflicts(batch: _Batch, now) -> None:
    """Bring the conflict rows of every source read up to date (a source read only in part keeps its rows)."""
    read = [key for key in dict.fromkeys(batch.read) if key not in batch.failed]
    ids = _ids_by_ref(claim.key for claim in batch.claims) if batch.claims else {}
    current = {(ids[c.key], c.item.source): c for c in batch.claims if c.key in ids}
    stored: dict[tuple[int, str], tuple[int, str]] = {}
    for chunk in _chunks(read):
        rows = EntityConflict.objects.filter(source__in=chunk).values_list("pk", "entity_id", "source", "fingerprint")
        stored.update(((entity_id, source), (pk, fingerprint)) for pk, entity_id, source, fingerprint in rows)
    gone = [pk for pair, (pk, _fp) in stored.items() if pair not in current]
    for chunk in _chunks(gone):
        EntityConflict.objects.filter(pk__in=chunk).delete()
    again = [pk for pair, (pk, fp) in stored.items() if pair in current and current[pair].item.fingerprint == fp]
    for chunk in _chunks(again):
        EntityConflict.objects.filter(pk__in=chunk).update(last_seen_at=now)
    for pair, (pk, fp) in stored.items():
        claim = current.get(pair)
        if claim is not None and claim.item.fingerprint != fp:  # the refused copy changed
            EntityConflict.objects.filter(pk=pk).update(last_seen_at=now, **_copy(claim))
    EntityConflict.objects.bulk_create(
        [
            EntityConflict(entity_id=pk, source=source[:1000], first_seen_at=now, last_seen_at=now, **_copy(claim))
            for (pk, source), claim in current.items()
            if (pk, source) not in stored
        ],
        ignore_conflicts=True,
    )


def _copy(claim: _Claim) -> dict:
    """The refused copy, as a conflict row keeps it."""
    item = claim.item
    return {
        "source_label": item.label[:1000],
        "document": item.document,
        "descriptor": item.descriptor.to_document() if item.descriptor is not None else {},
        "fingerprint": item.fingerprint,
    }
