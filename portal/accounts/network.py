"""The client's real address behind the portal's reverse proxies.

Behind an ingress every request comes from the ingress's address (``REMOTE_ADDR``); the client's is
in ``X-Forwarded-For``, which anyone may also write to. Only the entries that trusted proxies added
count: with ``TRUSTED_PROXY_COUNT = n`` the n-th address from the right of the chain
``X-Forwarded-For + [REMOTE_ADDR]`` ... is the client's; with ``TRUSTED_PROXIES`` (addresses or
networks), the first address from the right that is not a trusted proxy is. Neither set: REMOTE_ADDR.

Used by the lockout (django-axes' ``AXES_CLIENT_IP_CALLABLE``), the audit log, API throttling, the
``/metrics`` allow list and the tokens' "last used from".
"""

from __future__ import annotations

import contextlib
import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(value: str):
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def in_networks(address: str | None, entries) -> bool:
    parsed = _parse(address) if address else None
    return parsed is not None and any(parsed in network for network in _networks(tuple(entries)))


def client_ip(request) -> str | None:
    if request is None:
        return None
    cached = getattr(request, "_bridge_client_ip", False)
    if cached is not False:
        return cached
    remote = request.META.get("REMOTE_ADDR") or None
    address = remote
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    trusted = tuple(getattr(settings, "TRUSTED_PROXIES", ()))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if (count or trusted) and forwarded and remote:
        chain = [part for part in forwarded.split(",") if part.strip()] + [remote]
        if trusted:
            candidate = None
            for entry in reversed(chain):
                parsed = _parse(entry)
                if parsed is None:
                    break  # garbage left of a trusted proxy: trust nothing further left
                candidate = parsed
                if not any(parsed in network for network in _networks(trusted)):
                    break
            address = str(candidate) if candidate is not None else remote
        else:
            parsed = _parse(chain[-(count + 1)]) if len(chain) > count else _parse(chain[0])
            address = str(parsed) if parsed is not None else remote
    with contextlib.suppress(AttributeError):
        request._bridge_client_ip = address
    return address
