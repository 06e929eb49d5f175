"""Who may do what with software templates and runs; used by the views and the API alike."""

from __future__ import annotations

from catalog.selectors import teams_of
from portal.permissions import is_approver, is_platform_admin


def _in_owner_team(user, run) -> bool:
    cached = getattr(user, "_bridge_team_refs", None)
    if cached is None:
        cached = {team.ref for team in teams_of(user).only("kind", "namespace", "name")}
        user._bridge_team_refs = cached
    return run.owner in cached


def can_create(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_view(user, run) -> bool:
    """The requester, the owning team, approvers (they see the preview) and Platform Admins."""
    if not user or not user.is_authenticated:
        return False
    return run.requester_id == user.pk or is_approver(user) or _in_owner_team(user, run)


def can_confirm(user, run) -> bool:
    """Create from the preview: only the person who previewed it (it is their values and their commit)."""
    return bool(user and user.is_authenticated and user.is_active and run.requester_id == user.pk)


def can_operate(user, run) -> bool:
    """Retry, clean up: the requester, the owning team and Platform Admins."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return run.requester_id == user.pk or is_platform_admin(user) or _in_owner_team(user, run)


def can_approve(user, run) -> bool:
    """Members of the template's approval group (Platform Admins always), never the requester."""
    if not user or not user.is_authenticated or not user.is_active or run.requester_id == user.pk:
        return False
    if is_platform_admin(user):
        return True
    group = run.template.approval.get("group") or "Approvers"
    return user.groups.filter(name=group).exists()


def can_reload_templates(user) -> bool:
    return is_platform_admin(user)
