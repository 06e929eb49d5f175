"""One entity at a time, from the form and the API: save and delete."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog import permissions, selectors
from catalog import sources as source_keys
from catalog.descriptors import Invalid, validate
from catalog.models import Entity, EntityConflict, Kind, Relation
from catalog.services.common import ImportResult, _Batch, _fingerprint, _Parsed, catalog_changed
from catalog.services.membership import _MembershipDiff
from catalog.services.users import _account, _audit_link
from catalog.services.writing import _write
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError, audit_record


def entity_save(*, actor, document: dict, entity: Entity | None = None) -> Entity:
    """Create or replace one entity from a descriptor document; raises ServiceError with the reason."""
    if (
        isinstance(document, dict)
        and str(document.get("kind", "")).lower() == "template"
        or (entity is not None and entity.kind == Kind.TEMPLATE)
    ):
        raise ServiceError(
            "Backstage software templates are read-only in Bridge: import them from their catalog file "
            "(Bridge runs its own software templates)."
        )
    try:
        descriptor = validate(document, require_api_version=False)
    except Invalid as exc:
        raise ServiceError(f"{exc.field}: {exc.reason}" if exc.field else exc.reason)
    key = descriptor.ref_key
    with transaction.atomic():
        current = Entity.objects.select_for_update().filter(ref_key=key).first()
        if entity is not None:
            if current is not None and current.pk != entity.pk:
                raise ServiceError(f"{key} exists already.")
            if entity.ref_key != key:
                raise ServiceError("The kind, namespace and name of an entity cannot change; create a new one.")
            current = entity
        elif current is not None:
            raise ServiceError(f"{key} exists already; edit it instead.")
        if current is not None and not permissions.can_edit_entity(actor, current):
            raise PermissionDenied("Only the owning team's members and Platform Admins may edit this entity.")
        if not is_platform_admin(actor):
            if descriptor.kind in (Kind.GROUP, Kind.USER, Kind.LOCATION):
                if current is None:
                    raise PermissionDenied(f"Only Platform Admins may create {descriptor.kind} entities.")
            elif descriptor.owner_ref not in permissions.team_refs_of(actor):
                raise PermissionDenied("The owner must be one of your teams.")
            if descriptor.kind == Kind.USER and _joins_groups(current, descriptor):
                # spec.memberOf makes the linked account a member of those Groups: the person a User is
                # editable by must not be able to join any team they like.
                raise PermissionDenied("Only Platform Admins may add a User to a Group (spec.memberOf).")
        source = current.source if current is not None else ""
        result = ImportResult()
        _write(
            _Batch(parsed={key: _Parsed(descriptor, source, _fingerprint(source, document, None))}),
            result,
            actor=None,
            scope=[],
            audit=False,  # the entity's own audit event follows
            membership_actor=actor,
        )
        saved = Entity.objects.get(ref_key=key)
        audit_record(actor=actor, action="catalog.entity.update" if current else "catalog.entity.create", obj=saved)
    return saved


def _joins_groups(current: Entity | None, descriptor) -> bool:
    """Does the User descriptor declare a Group membership that ``current`` (the stored User) does not?"""
    declared = {source for source, type_, _target in descriptor.relations if type_ == "hasMember"}
    if current is None or not declared:
        return bool(declared)
    before = set(Relation.objects.filter(origin=current, type="hasMember").values_list("source_ref", flat=True))
    return bool(declared - before)


def entity_delete(*, actor, entity: Entity) -> None:
    """Owners and Platform Admins delete an entity; its relations to others become unresolved."""
    if not permissions.can_delete_entity(actor, entity):
        raise PermissionDenied("Only the owning team's members and Platform Admins may delete this entity.")
    with transaction.atomic():
        audit_record(actor=actor, action="catalog.entity.delete", obj=entity, changes={"ref": entity.ref})
        if entity.kind == Kind.USER and entity.portal_user_id is not None:
            _audit_link(actor, "catalog.user.unlink", entity, _account(entity.portal_user_id), None)
        membership = _MembershipDiff.before_delete([(entity.pk, entity.kind)])
        entity.delete()
        catalog_changed()
        membership.record(actor=actor, files=[])


def entity_move(*, actor, entity: Entity, source: str) -> Entity:
    """A Platform Admin gives an entity to another source on purpose; the move is audited.

    If that source's copy was refused (a conflict), that copy is written at once; otherwise the
    source's next import writes it. The previous owner, if it still listed the entity, now holds
    the conflict, so the move can be undone the same way.
    """
    if not permissions.can_move_entity(actor):
        raise PermissionDenied("Only Platform Admins move entities from one source to another.")
    source = (source or "").strip()
    if not source:
        raise ServiceError("Name the source to move the entity to.")
    now = timezone.now()
    with transaction.atomic():
        entity = Entity.objects.select_for_update().get(pk=entity.pk)
        before = entity.source
        if source == before:
            raise ServiceError(f"{entity.ref} already belongs to {source_keys.label(source)}.")
        claim = EntityConflict.objects.filter(entity=entity, source=source).first()
        if claim is None and not selectors.source_exists(source):
            raise ServiceError(
                f"No source {source!r} is known: choose one of the sources that list this entity, or an "
                "existing source (see the catalog's Sources page)."
            )
        if before and not entity.orphaned:
            EntityConflict.objects.update_or_create(
                entity=entity,
                source=before,
                defaults={
                    "source_label": source_keys.label(before)[:1000],
                    "document": None,
                    "descriptor": selectors.entity_document(entity),
                    "fingerprint": entity.fingerprint,
                    "first_seen_at": now,
                    "last_seen_at": now,
                },
            )
        Entity.objects.filter(pk=entity.pk).update(source=source[:1000], fingerprint="", updated_at=now)
        applied = False
        if claim is not None and claim.descriptor:
            try:
                descriptor = validate(claim.descriptor)
            except Invalid:
                descriptor = None  # refused under older rules: that source's next import writes it
            if descriptor is not None and descriptor.ref_key == entity.ref_key:
                item = _Parsed(descriptor, source, claim.fingerprint, claim.source_label, claim.document)
                _write(_Batch(parsed={entity.ref_key: item}), ImportResult(), actor=None, scope=[], audit=False,
                       membership_actor=actor)  # fmt: skip
                applied = True
            claim.delete()
        catalog_changed()
        audit_record(
            actor=actor,
            action="catalog.entity.move",
            obj=entity,
            changes={"ref": entity.ref, "source": {"before": before, "after": source}, "applied_its_copy": applied},
        )
    return Entity.objects.get(pk=entity.pk)
