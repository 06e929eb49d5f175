"""Who may do what in pipelines; used by the HTML views, the API and the webhook receivers alike."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from portal.permissions import is_platform_admin


def can_view_pipelines(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_manage_integrations(user) -> bool:
    return is_platform_admin(user)


def can_link_repositories(user) -> bool:
    return is_platform_admin(user)


def can_record_incidents(user) -> bool:
    return is_platform_admin(user)


def integration_matches_repository(integration, slug: str) -> bool:
    """The repository is one of the integration's, by slug or pattern (``acme/*``, ``*``), without case."""
    name = slug.strip().lower()
    return bool(name) and any(fnmatchcase(name, pattern.lower()) for pattern in integration.repositories)


def integration_may_post_for(integration, *, slugs: Iterable[str] = (), owner_refs: Iterable[str] = ()) -> bool:
    """An integration posts only for what it was made for: a repository it names (or matches), or one that
    belongs to a service its owning teams own. ``owner_refs`` are the owners (``group:ns/name``) of the
    catalog entities the delivery is about."""
    if "*" in integration.repositories:
        return True
    if any(integration_matches_repository(integration, slug) for slug in slugs):
        return True
    owners = {ref.lower() for ref in integration.owners}
    return bool(owners) and any(ref and ref.lower() in owners for ref in owner_refs)
