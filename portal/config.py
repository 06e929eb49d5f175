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
