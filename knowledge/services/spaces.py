"""Spaces: the team-owned collections of pages."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.text import slugify

from catalog.models import Entity
from knowledge import permissions
from knowledge.models import (
    Space,
)
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


def _check_key(key: str) -> str:
    key = slugify(key or "")[:60]
    if not key:
        raise ServiceError("Give the space a short key (letters, digits and dashes).")
    return key


def space_create(
    *, actor, key: str, name: str, owner: Entity | None, description: str = "", open_for_edit: bool = False
) -> Space:
    if owner is not None and owner.kind != "Group":
        raise ServiceError("A space is owned by a team (a catalog Group).")
    if not permissions.can_create_space(actor, owner):
        raise PermissionDenied("Only members of the owning team or Platform Admins can create this space.")
    key = _check_key(key)
    name = (name or "").strip()[:200]
    if not name:
        raise ServiceError("Give the space a name.")
    with transaction.atomic():
        if Space.objects.filter(key=key).exists():
            raise ServiceError(f"A space with the key “{key}” already exists.")
        space = Space.objects.create(
            key=key, name=name, owner=owner, description=description, open_for_edit=open_for_edit
        )
        audit_record(actor=actor, action="knowledge.space.create", obj=space, changes={"key": key, "name": name})
    return space


def space_update(
    *, actor, space: Space, name: str, description: str, owner: Entity | None, open_for_edit: bool
) -> Space:
    if not permissions.can_manage_space(actor, space):
        raise PermissionDenied("Only the owning team or Platform Admins can change this space.")
    if owner is not None and owner.kind != "Group":
        raise ServiceError("A space is owned by a team (a catalog Group).")
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        if (owner.pk if owner else None) != space.owner_id and not permissions.can_own_space(actor, owner):
            raise PermissionDenied(
                "You can hand the space only to a team you are a member of; Platform Admins can hand it to any team."
                if owner is not None
                else "Only Platform Admins can leave a space without an owning team."
            )
        changes = {}
        for field, value in [
            ("name", name.strip()[:200] or space.name),
            ("description", description),
            ("owner_id", owner.pk if owner else None),
            ("open_for_edit", open_for_edit),
        ]:
            if getattr(space, field) != value:
                changes[field] = [getattr(space, field), value]
                setattr(space, field, value)
        space.save()
        audit_record(actor=actor, action="knowledge.space.update", obj=space, changes=changes)
    return space


def space_delete(*, actor, space: Space) -> None:
    """Delete the space with its pages, their history and their attached files."""
    from knowledge.models import Attachment

    if not permissions.can_manage_space(actor, space):
        raise PermissionDenied("Only the owning team or Platform Admins can delete this space.")
    with transaction.atomic():
        files = [(a.file.storage, a.file.name) for a in Attachment.objects.filter(page__space=space)]
        audit_record(actor=actor, action="knowledge.space.delete", obj=space, changes={"key": space.key})
        space.delete()

        def _remove_files():
            for storage, path in files:
                storage.delete(path)

        transaction.on_commit(_remove_files)
