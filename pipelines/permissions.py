"""Who may do what in pipelines; used by the HTML views and the API alike."""

from portal.permissions import is_platform_admin


def can_view_pipelines(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_manage_integrations(user) -> bool:
    return is_platform_admin(user)


def can_link_repositories(user) -> bool:
    return is_platform_admin(user)


def can_record_incidents(user) -> bool:
    return is_platform_admin(user)
