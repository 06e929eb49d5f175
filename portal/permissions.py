"""Role checks shared by the HTML views and the API."""

from portal.roles import APPROVERS, PLATFORM_ADMINS


def _in_group(user, name: str) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    cache = getattr(user, "_bridge_group_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._bridge_group_names = cache
    return name in cache


def is_platform_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or _in_group(user, PLATFORM_ADMINS)))


def is_approver(user) -> bool:
    return is_platform_admin(user) or _in_group(user, APPROVERS)


def can_use_admin_site(user) -> bool:
    return is_platform_admin(user)


def role_names(user) -> list[str]:
    if not user or not user.is_authenticated:
        return []
    _in_group(user, "")
    return sorted(user._bridge_group_names)


def can_read_audit_log(user) -> bool:
    return is_platform_admin(user)
