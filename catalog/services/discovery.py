"""Discovery: every repository of a GitHub organisation or GitLab group gets a location for its catalog file."""

from __future__ import annotations

import fnmatch
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from catalog import permissions
from catalog.models import CatalogLocation, Discovery
from catalog.services.git_locations import (
    LocationOutcome,
    _threads,
    clean_path,
    location_remove,
    locations_refresh,
)
from portal.githosts import errors as host_errors
from portal.githosts import providers
from portal.githosts.integrations import integration_for_host, normalise_host
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)

_OWNER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.\-]*(/[A-Za-z0-9_.][A-Za-z0-9_.\-]*)*$")
MAX_PATTERNS = 50


@dataclass
class ScanResult:
    """What one scan found and did."""

    repositories: int = 0
    archived: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    without_file: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    outcomes: list[LocationOutcome] = field(default_factory=list)
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
        read = sum(1 for o in self.outcomes if o.status == "read")
        failed = sum(1 for o in self.outcomes if o.status in ("error", "deferred"))
        return (
            f"{self.repositories} repositories: {len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.without_file)} without the catalog file, {len(self.archived)} archived, "
            f"{len(self.excluded)} excluded; {read} read, {failed} failed"
        )


def _patterns(values) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\n]", values)
    cleaned = [str(v).strip() for v in values or [] if str(v).strip()]
    if len(cleaned) > MAX_PATTERNS or any(len(v) > 200 for v in cleaned):
        raise ServiceError(f"Give at most {MAX_PATTERNS} patterns of at most 200 characters.")
    return cleaned


def discovery_add(
    *,
    actor,
    host: str,
    owner: str,
    catalog_path: str = "catalog-info.yaml",
    include=(),
    exclude=(),
    scan: bool = True,
) -> tuple[Discovery, ScanResult | None]:
    """Add an organisation (GitHub) or group (GitLab, with its subgroups) to discover, and scan it."""
    if actor is not None and not permissions.can_manage_locations(actor):
        raise PermissionDenied("Only Platform Admins add discoveries.")
    host = normalise_host(host)
    integration = integration_for_host(host)
    if integration is None:
        raise ServiceError(f"{host} has no Git integration; a Platform Admin adds one (GIT_INTEGRATIONS or the admin).")
    if integration.type not in ("github", "gitlab"):
        raise ServiceError("Discovery lists repositories through GitHub's or GitLab's API; a plain Git host has none.")
    owner = (owner or "").strip().strip("/")
    if not _OWNER.match(owner) or (integration.type == "github" and "/" in owner):
        raise ServiceError(
            "Give a GitHub organisation (or user) name, or a GitLab group path such as 'shop' or 'shop/web'."
        )
    with transaction.atomic():
        if Discovery.objects.filter(
            host=integration.host, owner__iexact=owner, catalog_path=clean_path(catalog_path)
        ).exists():
            raise ServiceError(f"{owner} on {integration.host} is discovered already.")
        discovery = Discovery.objects.create(
            provider=integration.type,
            host=integration.host,
            owner=owner,
            catalog_path=clean_path(catalog_path),
            include=_patterns(include),
            exclude=_patterns(exclude),
            created_by=actor,
        )
        audit_record(actor=actor, action="catalog.discovery.add", obj=discovery, changes={"owner": owner})
    return discovery, discovery_scan(discovery=discovery) if scan else None


def discovery_remove(*, actor, discovery: Discovery) -> int:
    """Stop discovering: its locations are removed and their entities orphaned. Returns how many locations."""
    if actor is not None and not permissions.can_manage_locations(actor):
        raise PermissionDenied("Only Platform Admins remove discoveries.")
    locations = list(discovery.locations.all())
    for location in locations:
        location_remove(actor=actor, location=location)
    with transaction.atomic():
        audit_record(
            actor=actor, action="catalog.discovery.remove", obj=discovery, changes={"locations": len(locations)}
        )
        discovery.delete()
    return len(locations)


def _selected(discovery: Discovery, repo: providers.Repository) -> bool:
    names = (repo.name.lower(), repo.slug.lower())
    include = [p.lower() for p in discovery.include or []]
    exclude = [p.lower() for p in discovery.exclude or []]
    if include and not any(fnmatch.fnmatchcase(n, p) for p in include for n in names):
        return False
    return not any(fnmatch.fnmatchcase(n, p) for p in exclude for n in names)


def discovery_scan(*, discovery: Discovery) -> ScanResult:
    """List the repositories; keep one location per repository with the catalog file; read what changed."""
    result = ScanResult()
    integration = integration_for_host(discovery.host)
    try:
        if integration is None:
            raise host_errors.NotConfigured(f"{discovery.host} has no Git integration any more.")
        host = providers.host_for(integration)
        repositories = list(host.repositories(discovery.owner))
    except host_errors.GitHostError as exc:
        result.error = str(exc)
        Discovery.objects.filter(pk=discovery.pk).update(error=result.error[:2000], scanned_at=timezone.now())
        return result
    result.repositories = len(repositories)
    wanted: dict[str, providers.Repository] = {}
    for repo in repositories:
        if repo.archived:
            result.archived.append(repo.slug)
        elif not _selected(discovery, repo):
            result.excluded.append(repo.slug)
        else:
            wanted[repo.slug] = repo
    existing = {loc.repository: loc for loc in CatalogLocation.objects.filter(discovery=discovery)}
    # Repositories that are gone (deleted, archived, excluded now): their locations go, their entities orphan.
    for slug, location in existing.items():
        if slug not in wanted:
            location_remove(actor=None, location=location)
            result.removed.append(slug)
    # A default branch that changed: the location follows it.
    moved = []
    for slug, location in existing.items():
        repo = wanted.get(slug)
        if repo is not None and repo.default_branch and location.ref != repo.default_branch:
            location.ref, location.files, location.commit_sha = repo.default_branch, {}, ""
            moved.append(location)
    if moved:
        CatalogLocation.objects.bulk_update(moved, ["ref", "files", "commit_sha"])
    # New repositories: those with the catalog file get a location (read once, not twice).
    new = [repo for slug, repo in wanted.items() if slug not in existing]
    found = _probe(host, new, discovery.catalog_path)
    created: list[CatalogLocation] = []
    prefetched = {}
    with transaction.atomic():
        for repo in new:
            read = found.get(repo.slug)
            if read is None:
                result.without_file.append(repo.slug)
                continue
            created.append(
                CatalogLocation(
                    provider=integration.type,
                    host=integration.host,
                    repository=repo.slug,
                    clone_url=repo.clone_url,
                    web_url=repo.web_url,
                    ref=repo.default_branch or "main",
                    path=discovery.catalog_path,
                    discovery=discovery,
                    created_by=discovery.created_by,
                )
            )
        created = CatalogLocation.objects.bulk_create(created, batch_size=500)
        if created and created[0].pk is None:  # a database that does not return ids
            by_slug = {
                loc.repository: loc
                for loc in CatalogLocation.objects.filter(
                    discovery=discovery, repository__in=[c.repository for c in created]
                )
            }
            created = [by_slug[c.repository] for c in created]
        for location in created:
            prefetched[location.pk] = found[location.repository]
            result.added.append(location.repository)
    locations = created + [loc for slug, loc in existing.items() if slug in wanted]
    result.outcomes = locations_refresh(locations=locations, prefetched=prefetched)
    # A discovered repository whose catalog file is gone loses its location (and its entities orphan).
    by_id = {loc.pk: loc for loc in locations}
    for outcome in result.outcomes:
        if outcome.missing and outcome.location_id in by_id:
            location_remove(actor=None, location=by_id[outcome.location_id])
            result.removed.append(by_id[outcome.location_id].repository)
    with transaction.atomic():
        Discovery.objects.filter(pk=discovery.pk).update(
            scanned_at=timezone.now(), repositories=result.repositories, error=""
        )
        if result.added or result.removed:
            audit_record(
                actor=None,
                action="catalog.discovery.scan",
                obj=discovery,
                changes={
                    "added": len(result.added),
                    "removed": len(result.removed),
                    "added_first": result.added[:50],
                    "removed_first": result.removed[:50],
                },
            )
    return result


def _probe(host, repos: list[providers.Repository], path: str) -> dict[str, providers.FileRead]:
    """Read the catalog file of each repository (in parallel); those without it are left out."""
    found: dict[str, providers.FileRead] = {}

    def probe(repo: providers.Repository) -> None:
        try:
            found[repo.slug] = host.read_file(repo, repo.default_branch or "main", path)
        except host_errors.NotFound:
            pass
        except host_errors.GitHostError as exc:
            logger.warning("Discovery could not read %s of %s: %s", path, repo.slug, exc)

    if len(repos) <= 1:
        for repo in repos:
            probe(repo)
    else:
        with ThreadPoolExecutor(max_workers=min(_threads(), len(repos))) as pool:
            list(pool.map(probe, repos))
    return found


def discoveries_scan_all() -> int:
    """Scan every discovery (the schedule); returns how many were scanned."""
    count = 0
    for discovery in Discovery.objects.order_by("pk"):
        try:
            discovery_scan(discovery=discovery)
        except Exception:  # noqa: BLE001 - one broken discovery must not stop the others
            logger.exception("Scanning discovery %s failed", discovery.pk)
        count += 1
    return count
