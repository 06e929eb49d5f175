"""Orphans: entities their source no longer lists, and deleting them."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.db.models import Q

from catalog import permissions
from catalog.models import Entity, Kind
from catalog.services.common import _chunks, catalog_changed
from catalog.services.membership import _MembershipDiff
from catalog.services.users import _account, _audit_link
from portal.services import PermissionDenied, ServiceError, audit_record


def _in_scope(source: str, scope: list[tuple[str, str]]) -> bool:
    return any(source == key if mode == "exact" else source.startswith(key) for mode, key in scope)


def _orphan(
    scope: list[tuple[str, str]], seen: dict[str, str], failed: set[str], listed: set[tuple[str, str]], now
) -> list[str]:
    """Entities of the imported sources that the import did not see are marked orphaned, each once.

    ``seen``: ref -> the source the entity has after the write. A file read only in part (a syntax
    error) keeps its entities as they were; an invalid document keeps its entity (it is still listed).
    """
    if not scope:
        return []
    in_scope = Q()
    for mode, key in scope:
        in_scope |= Q(source=key) if mode == "exact" else Q(source__startswith=key)
    seen_in_scope = sum(1 for source in seen.values() if _in_scope(source, scope))
    if Entity.objects.filter(in_scope, orphaned=False).count() == seen_in_scope:
        return []  # the usual case: every entity of these sources was seen again
    candidates: dict[int, tuple[str, str]] = {}  # by id: a folder and a file in it may both be in scope
    for mode, key in scope:
        qs = Entity.objects.filter(orphaned=False)
        qs = qs.filter(source=key) if mode == "exact" else qs.filter(source__startswith=key)
        candidates.update((pk, (ref, source)) for pk, ref, source in qs.values_list("id", "ref_key", "source"))
    gone = [
        (pk, ref)
        for pk, (ref, source) in candidates.items()
        if ref not in seen and source not in failed and (source, ref) not in listed
    ]
    for chunk in _chunks([pk for pk, _ in gone]):
        Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
    return sorted(ref for _, ref in gone)


def orphans_digest() -> str:
    """A hash of which entities are orphaned now: "Delete orphans" deletes only the set a person reviewed."""
    digest = hashlib.sha256()
    for pk in Entity.objects.filter(orphaned=True).order_by("pk").values_list("pk", flat=True).iterator():
        digest.update(f"{pk},".encode())
    return digest.hexdigest()


def orphans_delete(*, actor, reviewed: str | None = None) -> int:
    """Delete every orphaned entity (Platform Admins); returns how many.

    ``reviewed`` is the ``orphans_digest()`` of the list the person saw: if orphans came or went
    since, nothing is deleted and they are asked to look again.
    """
    if not permissions.can_delete_orphans(actor):
        raise PermissionDenied("Only Platform Admins may delete orphaned entities.")
    with transaction.atomic():
        if reviewed is not None and reviewed != orphans_digest():
            raise ServiceError("The orphaned entities changed since you looked; review the list again.")
        rows = list(Entity.objects.filter(orphaned=True).values_list("ref_key", "pk", "kind"))
        refs = [ref for ref, _pk, _kind in rows]
        for entity in Entity.objects.filter(orphaned=True, kind=Kind.USER, portal_user__isnull=False):
            _audit_link(actor, "catalog.user.unlink", entity, _account(entity.portal_user_id), None)
        membership = _MembershipDiff.before_delete([(pk, kind) for _ref, pk, kind in rows])
        Entity.objects.filter(orphaned=True).delete()
        catalog_changed()
        if refs:
            audit_record(actor=actor, action="catalog.orphans.delete", changes={"count": len(refs), "refs": refs[:50]})
        membership.record(actor=actor, files=[])
    return len(refs)
