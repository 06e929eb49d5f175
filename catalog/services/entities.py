"""One entity at a time, from the form and the API: save and delete."""

from __future__ import annotations

from django.db import transaction

from catalog import permissions
from catalog.descriptors import Invalid, validate
from catalog.models import Entity, Kind, Relation
from catalog.services.common import ImportResult, _fingerprint, _Parsed, catalog_changed
from catalog.services.membership import _MembershipDiff
from catalog.services.users import _account, _audit_link
from catalog.services.writing import _write
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError, audit_record


def entity_save(*, actor, document: dict, entity: Entity | None = None) -> Entity:
    """Create or replace one entity from a descriptor document; raises ServiceError with the reason."""
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
            {key: _Parsed(descriptor, source, _fingerprint(source, document, None))},
            result,
            actor=None,
            scope=[],
            failed_sources=set(),
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
