"""Catalog Users and portal accounts: linking, claiming, unlinking (team membership follows the link)."""

from __future__ import annotations

from django.db import transaction

from catalog import permissions, selectors
from catalog.models import Entity, Kind, Relation
from portal.services import PermissionDenied, ServiceError, audit_record


def _teams_of_person(entity: Entity) -> list[str]:
    """The refs of the catalog Groups a User entity belongs to (what linking an account grants)."""
    return sorted(
        set(Relation.objects.filter(type="hasMember", target_id=entity.pk).values_list("source_ref", flat=True))
    )


def _account(user_id):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None


def _audit_link(actor, action: str, entity: Entity, before, after) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=entity,
        changes={
            "portal_user": {
                "before": before.get_username() if before is not None else None,
                "after": after.get_username() if after is not None else None,
            },
            "teams": _teams_of_person(entity),
        },
    )


def portal_user_link(*, entity: Entity, user, actor=None) -> Entity:
    """Link a catalog User to a portal account, so the account belongs to the User's groups.

    Team membership follows the link, so each change is written to the audit log: the
    account's previous User entity (if any) is unlinked, and a User entity that was linked
    to another account is relinked. The actor defaults to the user of the current request.
    """
    from portal.request_context import current_user

    if entity.kind != Kind.USER:
        raise ServiceError("Only User entities can be linked to a portal account.")
    actor = actor if actor is not None else current_user()
    with transaction.atomic():
        before_id = Entity.objects.select_for_update().filter(pk=entity.pk).values_list("portal_user", flat=True).get()
        for previous in Entity.objects.select_for_update().filter(portal_user=user).exclude(pk=entity.pk):
            Entity.objects.filter(pk=previous.pk).update(portal_user=None)
            _audit_link(actor, "catalog.user.unlink", previous, user, None)
        if before_id != user.pk:
            before = _account(before_id)
            entity.portal_user = user
            entity.save(update_fields=["portal_user"])
            _audit_link(actor, "catalog.user.link", entity, before, user)
    if hasattr(user, "_bridge_team_refs"):
        del user._bridge_team_refs  # the cached teams of this request's user changed
    return entity


def portal_user_unlink(*, entity: Entity, actor=None) -> Entity:
    """Unlink a catalog User from its portal account: the account leaves the User's groups."""
    from portal.request_context import current_user

    actor = actor if actor is not None else current_user()
    with transaction.atomic():
        before_id = Entity.objects.select_for_update().filter(pk=entity.pk).values_list("portal_user", flat=True).get()
        entity.portal_user = None
        if before_id is not None:
            entity.save(update_fields=["portal_user"])
            _audit_link(actor, "catalog.user.unlink", entity, _account(before_id), None)
    return entity


def catalog_user_claim(*, actor, entity: Entity) -> Entity:
    """ "This is me": a signed-in person links their account to the catalog User with their email address."""
    if not permissions.can_claim_catalog_user(actor, entity):
        raise PermissionDenied(
            "You can only claim a catalog User that is not linked yet and whose profile email is your account's "
            "email. Ask a Platform Admin to link you otherwise."
        )
    return portal_user_link(entity=entity, user=actor, actor=actor)


def catalog_user_assign(*, actor, entity: Entity, username: str) -> Entity:
    """A Platform Admin links any portal account to a catalog User."""
    if not permissions.can_link_portal_accounts(actor):
        raise PermissionDenied("Only Platform Admins can link portal accounts to catalog Users.")
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.filter(username__iexact=(username or "").strip(), is_active=True).first()
    if account is None:
        raise ServiceError(f"There is no active portal account named {username.strip()!r}.")
    return portal_user_link(entity=entity, user=account, actor=actor)


def catalog_user_unlink(*, actor, entity: Entity) -> Entity:
    """The linked person or a Platform Admin removes the link; the account then leaves the User's groups."""
    if not permissions.can_unlink_catalog_user(actor, entity):
        raise PermissionDenied("Only the linked person and Platform Admins can unlink this catalog User.")
    return portal_user_unlink(entity=entity, actor=actor)


def catalog_user_link_by_email(*, user) -> Entity | None:
    """At sign-in: an account without a catalog User takes the one unlinked User whose profile email is its own."""
    if not user.email or Entity.objects.filter(portal_user=user).exists():
        return None
    candidates = selectors.claimable_catalog_users(user)
    if len(candidates) != 1:
        return None  # none, or ambiguous: the person chooses on their profile page
    return portal_user_link(entity=candidates[0], user=user, actor=user)
