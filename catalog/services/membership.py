"""Who joined or left which team through a catalog change, for the audit log."""

from __future__ import annotations

from catalog.models import Kind, Relation
from catalog.services.common import _chunks, _Parsed
from portal.services import audit_record


class _MembershipDiff:
    """Who joined or left which catalog Group (team) through a write, for the audit log.

    Membership is a ``hasMember`` relation (group -> user), declared by the Group
    (``spec.members``) or by the User (``spec.memberOf``). Only entities of those two
    kinds are looked at, so an import of components costs nothing here. A pair that
    another, unwritten entity still declares (or declared already) did not change.
    """

    AUDIT_LIMIT = 500

    def __init__(self, before: set, after: set, declared_elsewhere: set):
        self.added = sorted((after - before) - declared_elsewhere)
        self.removed = sorted((before - after) - declared_elsewhere)

    @classmethod
    def before_write(cls, new_items: list[_Parsed], changed: list[tuple[int, _Parsed]]) -> _MembershipDiff:
        """Call before the changed entities' relations are replaced."""
        people = (Kind.GROUP, Kind.USER)
        changed = [(pk, item) for pk, item in changed if item.descriptor.kind in people]
        after = {
            (source_ref, target_ref)
            for item in [*(i for i in new_items if i.descriptor.kind in people), *(item for _pk, item in changed)]
            for source_ref, type_, target_ref in item.descriptor.relations
            if type_ == "hasMember"
        }
        return cls.compute(after, [pk for pk, _item in changed])

    @classmethod
    def before_delete(cls, entities) -> _MembershipDiff:
        """Call before the entities (and the relations they declared) are deleted."""
        return cls.compute(set(), [pk for pk, kind in entities if kind in (Kind.GROUP, Kind.USER)])

    @classmethod
    def compute(cls, after: set, written_ids: list[int]) -> _MembershipDiff:
        """``after``: the pairs the written entities declare now; ``written_ids``: those that existed."""
        before: set = set()
        for chunk in _chunks(written_ids):
            before.update(
                Relation.objects.filter(type="hasMember", origin_id__in=chunk).values_list("source_ref", "target_ref")
            )
        candidates = after ^ before
        elsewhere: set = set()
        if candidates:
            skip = set(written_ids)
            groups = sorted({group for group, _user in candidates})
            for chunk in _chunks(groups):
                rows = Relation.objects.filter(type="hasMember", source_ref__in=chunk).values_list(
                    "source_ref", "target_ref", "origin_id"
                )
                elsewhere.update((g, u) for g, u, origin in rows if origin not in skip and (g, u) in candidates)
        return cls(before, after, elsewhere)

    def record(self, *, actor, files: list[str]) -> None:
        if not (self.added or self.removed):
            return
        audit_record(
            actor=actor,
            action="catalog.membership.change",
            changes={
                "added": [{"group": g, "user": u} for g, u in self.added[: self.AUDIT_LIMIT]],
                "removed": [{"group": g, "user": u} for g, u in self.removed[: self.AUDIT_LIMIT]],
                "added_count": len(self.added),
                "removed_count": len(self.removed),
                "files": files[:20],
            },
        )
