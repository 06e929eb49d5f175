"""Every URL pattern of the portal, as readable keys (``catalog/<kind>/<namespace>/<name>/edit/``).

DRF's format-suffix twins (``…/approve.json``) are kept: they are other URLs that reach the same view,
and the matrix requests them too, with ``.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_SUFFIX = re.compile(r"\\\.\(\?P<format>\[a-z0-9\]\+\)/\?\$$")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    key: str  # the readable route, path parameters as <name>, without the format suffix
    suffix: bool  # DRF's ``.json`` twin of ``key``
    name: str | None

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(\w+)>", self.key)


def _readable(part: str) -> tuple[str, bool]:
    suffix = bool(_SUFFIX.search(part))
    part = _SUFFIX.sub("", part)
    part = _GROUP.sub(lambda m: f"<{m.group(1)}>", part)
    part = part.replace("\\d+", "").replace("/?$", "/").replace("\\", "")
    part = part.lstrip("^").rstrip("$")
    if part.endswith("/?"):
        part = part[:-1]
    part = _CONVERTER.sub(lambda m: f"<{m.group(1)}>", part)
    if "<format>" in part:  # DRF's api-root ``<drf_format_suffix:format>``
        part, suffix = part.replace("<format>", ""), True
    if suffix and part and not part.endswith("/"):
        part += "/"  # the same key as the URL it is the ``.json`` twin of
    return part, suffix


def all_routes(resolver=None, prefix: str = "") -> list[Route]:
    """Every pattern of the URLconf, the admin site's own pages excepted (Django's, covered as /admin/)."""
    resolver = resolver or get_resolver()
    routes = []
    for entry in resolver.url_patterns:
        part, suffix = _readable(str(entry.pattern))
        if isinstance(entry, URLResolver):
            if prefix + part == "admin/":
                routes.append(Route("admin/", False, "admin"))
                continue
            for route in all_routes(entry, prefix + part):
                routes.append(Route(route.key, route.suffix or suffix, route.name))
        elif isinstance(entry, URLPattern):
            routes.append(Route(prefix + part, suffix, entry.name))
    return routes
