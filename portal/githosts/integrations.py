"""Which Git hosts Bridge may read, and with which token.

Integrations come from two places: ``GIT_INTEGRATIONS`` in the environment (a JSON list,
read once per process) and the admin (``portal.models.GitIntegration``, token encrypted).
Where both name the same host, the environment wins. A URL belongs to an integration when its
host (and port) is the integration's ``host`` or the host of its API base URL.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TYPES = ("github", "gitlab", "git")
TOKEN_PURPOSE = "git-integration-token"  # noqa: S105  # nosec B105: a label, not a secret
_CACHE_SECONDS = 10.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Integration:
    """One configured Git host. ``token`` is the clear token: never log or show it."""

    type: str
    host: str  # lower case, host or host:port
    api_base_url: str = ""
    token: str = field(default="", repr=False)
    allow_private: bool = False  # loopback and private networks (never link-local) of this host
    allowed_networks: tuple[Network, ...] = ()  # named explicitly: may include link-local ones
    source: str = "environment"  # or "admin"
    pk: int | None = None

    @property
    def api_url(self) -> str:
        """The REST API base URL, without a trailing slash ("" for plain Git)."""
        if self.api_base_url:
            return self.api_base_url.rstrip("/")
        if self.type == "github":
            return "https://api.github.com" if self.host == "github.com" else f"https://{self.host}/api/v3"
        if self.type == "gitlab":
            return f"https://{self.host}/api/v4"
        return ""

    @property
    def netlocs(self) -> frozenset[str]:
        """Every host[:port] this integration answers for (its own and its API's)."""
        names = {self.host}
        if self.api_url:
            names.add(netloc_of(self.api_url))
        if self.type == "github" and self.host == "github.com":
            names.add("api.github.com")
        return frozenset(names)

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """May Bridge connect to this address for this integration?"""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return True
        if address.is_multicast or address.is_unspecified:
            return False
        if address.is_global:
            return True
        if address.is_link_local:
            return False  # the cloud metadata service lives here: only an explicit network allows it
        return self.allow_private and (address.is_loopback or address.is_private)


def netloc_of(url: str) -> str:
    """host[:port] of a URL, lower case, without a default port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return host
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}" if port and port != default else host


def normalise_host(raw: str) -> str:
    """'GitHub.com', 'https://git.example.com:8443/' -> 'github.com', 'git.example.com:8443'."""
    raw = (raw or "").strip()
    if "://" in raw:
        return netloc_of(raw)
    return netloc_of(f"https://{raw}")


def parse_private(value) -> tuple[bool, tuple[Network, ...]]:
    """``allow_private_addresses``: true/false, or addresses and networks (a list or comma-separated)."""
    if value in (None, "", False):
        return False, ()
    if value is True:
        return True, ()
    items = value if isinstance(value, list) else str(value).split(",")
    items = [str(item).strip() for item in items if str(item).strip()]
    if len(items) == 1 and items[0].lower() in ("true", "yes", "1", "on"):
        return True, ()
    if len(items) == 1 and items[0].lower() in ("false", "no", "0", "off"):
        return False, ()
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"'{item}' is not an address or network (allow_private_addresses)") from None
    return False, tuple(networks)


def validate(*, type: str, host: str, api_base_url: str = "", allow_private_addresses="") -> str:
    """Check one integration's settings; returns the normalised host or raises ValueError with the reason."""
    if type not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}, not {type!r}")
    normalised = normalise_host(host)
    if not normalised or "/" in normalised or "@" in (host or ""):
        raise ValueError(f"host must be host or host:port, not {host!r}")
    if api_base_url:
        parts = urlsplit(api_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
            raise ValueError(f"api_base_url must be an http(s) URL without credentials, not {api_base_url!r}")
        if type == "git":
            raise ValueError("a plain Git integration has no API (leave api_base_url empty)")
    parse_private(allow_private_addresses)
    return normalised


def _from_environment() -> list[Integration]:
    raw = getattr(settings, "GIT_INTEGRATIONS", "") or ""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"GIT_INTEGRATIONS is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise ImproperlyConfigured("GIT_INTEGRATIONS must be a JSON list of objects")
    found: list[Integration] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ImproperlyConfigured(f"GIT_INTEGRATIONS[{index}] must be an object")
        unknown = set(item) - {"type", "host", "api_base_url", "token", "allow_private_addresses"}
        if unknown:
            raise ImproperlyConfigured(f"GIT_INTEGRATIONS[{index}] has unknown keys: {', '.join(sorted(unknown))}")
        try:
            host = validate(
                type=str(item.get("type", "")),
                host=str(item.get("host", "")),
                api_base_url=str(item.get("api_base_url") or ""),
                allow_private_addresses=item.get("allow_private_addresses"),
            )
            allow, networks = parse_private(item.get("allow_private_addresses"))
        except ValueError as exc:
            raise ImproperlyConfigured(f"GIT_INTEGRATIONS[{index}]: {exc}") from None
        found.append(
            Integration(
                type=item["type"],
                host=host,
                api_base_url=str(item.get("api_base_url") or ""),
                token=str(item.get("token") or ""),
                allow_private=allow,
                allowed_networks=networks,
                source="environment",
            )
        )
    return found


def _from_database() -> list[Integration]:
    from portal import crypto
    from portal.models import GitIntegration

    found = []
    for row in GitIntegration.objects.all():
        try:
            allow, networks = parse_private(row.allow_private_addresses)
        except ValueError:
            allow, networks = False, ()
        found.append(
            Integration(
                type=row.type,
                host=row.host,
                api_base_url=row.api_base_url,
                token=crypto.decrypt(row.token_encrypted, purpose=TOKEN_PURPOSE) or "",
                allow_private=allow,
                allowed_networks=networks,
                source="admin",
                pk=row.pk,
            )
        )
    return found


_lock = threading.Lock()
_cached: tuple[float, str, list[Integration]] | None = None


def all_integrations() -> list[Integration]:
    """Every configured integration (environment first); cached for a few seconds per process."""
    global _cached
    raw = getattr(settings, "GIT_INTEGRATIONS", "") or ""
    with _lock:
        if _cached is not None and _cached[1] == raw and time.monotonic() - _cached[0] < _CACHE_SECONDS:
            return _cached[2]
    environment = _from_environment()
    hosts = {i.host for i in environment}
    found = environment + [i for i in _from_database() if i.host not in hosts]
    with _lock:
        _cached = (time.monotonic(), raw, found)
    return found


def forget() -> None:
    """Drop the cache (after the admin changed an integration, and in tests)."""
    global _cached
    with _lock:
        _cached = None


def integration_for_host(netloc: str) -> Integration | None:
    netloc = netloc.lower()

    def cached() -> Integration | None:
        return next((i for i in all_integrations() if netloc in i.netlocs), None)

    found = cached()
    if found is None:
        # Not in this process's cache: a Platform Admin may have added it a moment ago (in the web
        # process, while a worker still holds the list). Read again before saying there is none.
        forget()
        found = cached()
    return found


def integration_for_url(url: str) -> Integration | None:
    """The integration a URL belongs to, or None (then Bridge does not fetch it)."""
    return integration_for_host(netloc_of(url))
