"""Who may do what with templates and requests; used by the views and the API alike."""

from __future__ import annotations

from catalog.selectors import teams_of
from portal.permissions import is_approver, is_platform_admin

__all__ = [
    "can_approve",
    "can_cancel",
    "can_destroy",
    "can_manage_clusters",
    "can_reload_templates",
    "can_request",
    "can_view",
    "is_approver",
    "is_platform_admin",
    "team_ids",
]


def team_ids(user) -> list[int]:
    """The ids of the user's catalog teams, cached on the user object for the request."""
    if not user or not user.is_authenticated:
        return []
    cached = getattr(user, "_bridge_team_ids", None)
    if cached is None:
        cached = list(teams_of(user).values_list("pk", flat=True))
        user._bridge_team_ids = cached
    return cached


def can_request(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def is_teammate(user, request) -> bool:
    return request.team_id is not None and request.team_id in team_ids(user)


def can_view(user, request) -> bool:
    """The requester, their team, approvers and Platform Admins."""
    if not user or not user.is_authenticated:
        return False
    return request.requester_id == user.pk or is_approver(user) or is_teammate(user, request)


def can_cancel(user, request) -> bool:
    """Cancel or retry: the requester, their team, Platform Admins."""
    if not user or not user.is_authenticated:
        return False
    return request.requester_id == user.pk or is_platform_admin(user) or is_teammate(user, request)


def can_approve(user, request) -> bool:
    """Members of the template's approval group (Platform Admins always), never the requester."""
    if not user or not user.is_authenticated or not user.is_active or request.requester_id == user.pk:
        return False
    if is_platform_admin(user):
        return True
    group = request.template_version.approval_group or "Approvers"
    cache = getattr(user, "_bridge_group_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._bridge_group_names = cache
    return group in cache


def can_reload_templates(user) -> bool:
    return is_platform_admin(user)


def can_destroy(user, request) -> bool:
    """Destroy or extend an environment: the owning team (and the requester), Platform Admins."""
    return can_cancel(user, request)


def can_manage_clusters(user) -> bool:
    return is_platform_admin(user)
