"""Reading configuration from the environment, and the production guard."""

import os

from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_SECRET_KEY = "bridge-development-only-secret-key-do-not-use-in-production"  # nosec B105: refused in production

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_json_mapping(name: str) -> dict[str, list[str]]:
    """A JSON object of lists of strings, e.g. ``{"Approvers": ["eng-payments"]}``; unset: ``{}``."""
    import json

    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f'{name} must be a JSON object such as {{"Approvers": ["eng-payments"]}}') from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v) for k, v in value.items()
    ):
        raise ImproperlyConfigured(f"{name} must map each role name to a list of group names")
    return value


def sign_in_problems(
    *,
    issuer: str,
    client_id: str,
    password_login: bool,
    break_glass: str,
    role_mapping: dict,
    manage_platform_admins: bool,
) -> list[str]:
    """What makes the sign-in configuration unusable or unsafe, in words."""
    from portal.roles import ALL_ROLES, PLATFORM_ADMINS

    problems = []
    if bool(issuer) != bool(client_id):
        problems.append("set both OIDC_ISSUER_URL and OIDC_CLIENT_ID, or neither")
    if issuer and not issuer.startswith(("https://", "http://")):
        problems.append("OIDC_ISSUER_URL must be an http(s) URL")
    if not password_login and not issuer:
        problems.append("PASSWORD_LOGIN_ENABLED is off but no identity provider is configured: nobody could sign in")
    unknown = sorted(set(role_mapping) - set(ALL_ROLES))
    if unknown:
        problems.append(f"OIDC_ROLE_MAPPING names {unknown[0]!r}, which is not a role ({', '.join(ALL_ROLES)})")
    if PLATFORM_ADMINS in role_mapping and not manage_platform_admins:
        problems.append(
            "OIDC_ROLE_MAPPING gives Platform Admins, but OIDC_MANAGE_PLATFORM_ADMINS is off; "
            "turn it on to let the provider grant admin"
        )
    return problems


def validate_sign_in_settings(**kwargs) -> None:
    problems = sign_in_problems(**kwargs)
    if problems:
        raise ImproperlyConfigured("Sign-in is misconfigured: " + "; ".join(problems) + ".")


def production_problems(*, debug: bool, secret_key: str, allowed_hosts: list[str]) -> list[str]:
    """Everything that makes a production configuration unsafe, in words."""
    problems = []
    if debug:
        problems.append("DEBUG is on; set DEBUG=false")
    if not secret_key or secret_key == DEVELOPMENT_SECRET_KEY:
        problems.append("SECRET_KEY is the development key; set SECRET_KEY to a long random value")
    elif len(secret_key) < 50 or len(set(secret_key)) < 5:
        problems.append("SECRET_KEY is too short; use at least 50 random characters")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS is empty; set ALLOWED_HOSTS to the portal's host names")
    return problems


def validate_production_settings(*, debug: bool, secret_key: str, allowed_hosts: list[str]) -> None:
    problems = production_problems(debug=debug, secret_key=secret_key, allowed_hosts=allowed_hosts)
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")
