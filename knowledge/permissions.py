"""Who may do what in the knowledge base. Used by the HTML views and the API alike."""

from catalog.selectors import teams_of
from portal.permissions import is_platform_admin


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def _in_owning_team(user, space) -> bool:
    if space.owner_id is None:
        return False
    cache = getattr(user, "_knowledge_team_ids", None)
    if cache is None:
        cache = set(teams_of(user).values_list("pk", flat=True))
        user._knowledge_team_ids = cache
    return space.owner_id in cache


def can_read_space(user, space) -> bool:
    """Every signed-in user reads every space."""
    return _signed_in(user)


def can_edit_space(user, space) -> bool:
    """Edit pages: the owning team, Platform Admins, or anyone when the space is open."""
    if not _signed_in(user):
        return False
    return space.open_for_edit or is_platform_admin(user) or _in_owning_team(user, space)


def can_manage_space(user, space) -> bool:
    """Change the space itself, import into it, build it: the owning team and Platform Admins."""
    return _signed_in(user) and (is_platform_admin(user) or _in_owning_team(user, space))


def can_create_space(user, owner) -> bool:
    """Create a space for a team: its members, or Platform Admins (also for no team)."""
    if not _signed_in(user):
        return False
    if is_platform_admin(user):
        return True
    return owner is not None and teams_of(user).filter(pk=owner.pk).exists()


def can_own_space(user, owner) -> bool:
    """Hand a space to a team (or to none): its members, or Platform Admins."""
    return can_create_space(user, owner)


def can_import_from_server(user) -> bool:
    """Reading server directories is for Platform Admins."""
    return is_platform_admin(user)


def can_build_service_docs(user, entity) -> bool:
    """Rebuild a service's docs: the teams that own it and Platform Admins."""
    if not _signed_in(user):
        return False
    if is_platform_admin(user):
        return True
    from catalog.selectors import entities_owned_by_user

    return entities_owned_by_user(user).filter(pk=entity.pk).exists()
