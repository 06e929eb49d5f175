"""Who may do what in the catalog; used by the views, the API and other apps."""

from __future__ import annotations

from catalog.models import Entity, Kind
from portal.permissions import is_platform_admin


def team_refs_of(user) -> frozenset[str]:
    """The refs (``group:namespace/name``) of the user's teams; cached on the user object for the request."""
    if not user or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_bridge_team_refs", None)
    if cached is None:
        from catalog.selectors import teams_of

        cached = frozenset(teams_of(user).values_list("ref_key", flat=True))
        user._bridge_team_refs = cached
    return cached


def can_view_entity(user, entity: Entity) -> bool:
    return bool(user and user.is_authenticated)


def can_edit_entity(user, entity: Entity) -> bool:
    """Members of the owning team and Platform Admins; for a Group, its own members; for a User, that person.

    Backstage software Templates are read-only: they come from catalog files, and Bridge runs its own templates.
    """
    if not user or not user.is_authenticated or entity.kind == Kind.TEMPLATE:
        return False
    if is_platform_admin(user):
        return True
    if entity.kind == Kind.GROUP:
        return entity.ref_key in team_refs_of(user)
    if entity.kind == Kind.USER:
        return entity.portal_user_id is not None and entity.portal_user_id == user.pk
    return bool(entity.owner_ref) and entity.owner_ref in team_refs_of(user)


def can_delete_entity(user, entity: Entity) -> bool:
    if is_platform_admin(user):
        return True
    return entity.kind not in (Kind.GROUP, Kind.USER) and can_edit_entity(user, entity)


def can_create_entities(user) -> bool:
    """Anyone in a team (for that team) and Platform Admins."""
    return is_platform_admin(user) or bool(team_refs_of(user))


def can_import(user) -> bool:
    """Pasting and uploading YAML: team members (for their teams' entities) and Platform Admins."""
    return can_create_entities(user)


def can_import_from_server(user) -> bool:
    return is_platform_admin(user)


def can_manage_locations(user) -> bool:
    """Registering and removing Git locations and discoveries: what the catalog reads is Platform Admins' call."""
    return is_platform_admin(user)


def can_refresh_location(user) -> bool:
    """Asking for a location to be read now (it only reads): team members and Platform Admins."""
    return can_import(user)


def can_delete_orphans(user) -> bool:
    return is_platform_admin(user)


def can_move_entity(user) -> bool:
    """Giving an entity to another source overrides the first-come owner rule: Platform Admins only."""
    return is_platform_admin(user)


def can_manage_scorecards(user) -> bool:
    return is_platform_admin(user)


def _profile_email(entity: Entity) -> str:
    profile = (entity.spec or {}).get("profile") or {}
    email = profile.get("email") if isinstance(profile, dict) else None
    return email.strip().lower() if isinstance(email, str) else ""


def can_claim_catalog_user(user, entity: Entity) -> bool:
    """A person may link themselves to an unlinked catalog User whose profile email is their account's email.

    Catalog Users come only from Platform Admins' imports (they have no owner a team could claim),
    and people cannot change their own account email, so the match is a proof of identity.
    """
    if not user or not user.is_authenticated or entity.kind != Kind.USER or entity.portal_user_id is not None:
        return False
    email = (user.email or "").strip().lower()
    return bool(email) and not entity.orphaned and _profile_email(entity) == email


def can_link_portal_accounts(user) -> bool:
    return is_platform_admin(user)


def can_unlink_catalog_user(user, entity: Entity) -> bool:
    if not user or not user.is_authenticated or entity.portal_user_id is None:
        return False
    return is_platform_admin(user) or entity.portal_user_id == user.pk
