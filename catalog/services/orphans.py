"""Orphans: entities their source no longer lists, and deleting them."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from catalog.models import Entity, Kind
from catalog.services.common import _chunks, catalog_changed
from catalog.services.membership import _MembershipDiff
from catalog.services.users import _account, _audit_link
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, audit_record


def _in_scope(source: str, scope: list[tuple[str, str]]) -> bool:
    return any(source == key if mode == "exact" else source.startswith(key) for mode, key in scope)


def _orphan(scope: list[tuple[str, str]], seen: dict, failed_sources: set[str], now) -> list[str]:
    """Entities of the imported sources that the import did not see are marked orphaned."""
    if not scope:
        return []
    in_scope = Q()
    for mode, key in scope:
        in_scope |= Q(source=key) if mode == "exact" else Q(source__startswith=key)
    seen_in_scope = sum(1 for item in seen.values() if _in_scope(item.source, scope))
    if Entity.objects.filter(in_scope, orphaned=False).count() == seen_in_scope:
        return []  # the usual case: every entity of these sources was seen again
    candidates: list[tuple[int, str, str]] = []
    for mode, key in scope:
        qs = Entity.objects.filter(orphaned=False)
        qs = qs.filter(source=key) if mode == "exact" else qs.filter(source__startswith=key)
        candidates.extend(qs.values_list("id", "ref_key", "source"))
    # A file that failed to parse keeps its entities as they were: we cannot tell what vanished.
    gone = [(pk, ref) for pk, ref, source in candidates if ref not in seen and source not in failed_sources]
    ids = [pk for pk, _ in gone]
    for chunk in _chunks(ids):
        Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
    return sorted(ref for _, ref in gone)


def orphans_delete(*, actor) -> int:
    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins may delete orphaned entities.")
    with transaction.atomic():
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
