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


# --- API tokens ------------------------------------------------------------------------

TOKEN_SCOPES = ("read", "write")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_allows(token, method: str) -> bool:
    """A ``read`` token only reads; changing anything needs ``write``."""
    return method.upper() in READ_METHODS or "write" in (token.scopes or [])


def can_manage_tokens(user, auth) -> bool:
    """Only a signed-in session creates, lists or revokes tokens: a token (stolen or not) never does,
    so revoking a token ends its holder's access for good."""
    from portal.models import PersonalToken

    return bool(user and user.is_authenticated) and not isinstance(auth, PersonalToken)


# --- signing in ------------------------------------------------------------------------


def can_sign_in_with_password(username: str) -> bool:
    """Everyone while password sign-in is on; only the break-glass account once it is off."""
    from django.conf import settings

    if settings.PASSWORD_LOGIN_ENABLED:
        return True
    return bool(settings.BREAK_GLASS_USERNAME) and username == settings.BREAK_GLASS_USERNAME


# --- operational endpoints -------------------------------------------------------------


def can_read_metrics(request) -> bool:
    """Open in development (``METRICS_OPEN``); else a bearer token equal to ``METRICS_TOKEN``, or a
    client address in ``METRICS_ALLOWED_IPS``. With neither configured, nobody."""
    import hmac

    from django.conf import settings

    from portal.accounts.network import client_ip, in_networks

    if settings.METRICS_OPEN:
        return True
    if settings.METRICS_TOKEN:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), settings.METRICS_TOKEN.encode()
        ):
            return True
    return bool(settings.METRICS_ALLOWED_IPS) and in_networks(client_ip(request), settings.METRICS_ALLOWED_IPS)


def can_read_api_docs(user) -> bool:
    from django.conf import settings

    return not settings.API_DOCS_REQUIRE_SIGN_IN or bool(user and user.is_authenticated)
