"""Locations in Git repositories: register, read, refresh (conditionally), remove.

A location is a catalog file in a repository at a ref. Reading it goes through the import
pipeline like any other input; the difference is where files come from: Location targets,
globs and ``$text``/``$json``/``$yaml`` are resolved against the same repository and ref
(``_Resolver``), and never leave it. Entities get the source ``location:<id>:<path>``.

A refresh first asks the host whether anything changed since the last read (``_Reader``):
a conditional request per file it used (GitHub: ETag / If-None-Match; GitLab: the blob id
of a HEAD request), or one ``ls-remote`` for plain Git (the commit SHA). A location where
nothing changed costs those requests and writes nothing. Changed locations are read again
and imported together, in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import permissions
from catalog.descriptors import Invalid
from catalog.models import CatalogLocation, Entity, LocationStatus, LocationSweep
from catalog.services.common import ImportResult, _chunks, _Source, catalog_changed
from catalog.services.imports import _parse_sources
from catalog.services.writing import _write
from portal.githosts import errors as host_errors
from portal.githosts import providers
from portal.githosts.integrations import Integration, integration_for_host
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)

SOURCE_PREFIX = "location:"
GLOB_CHARACTERS = "*?["


def source_key(location_id: int, path: str) -> str:
    return f"{SOURCE_PREFIX}{location_id}:{path}"


def location_id_of(source: str) -> int | None:
    """The location id in an entity's source (``location:<id>:<path>``), or None."""
    if not source.startswith(SOURCE_PREFIX):
        return None
    number, _, _path = source[len(SOURCE_PREFIX) :].partition(":")
    return int(number) if number.isdigit() else None


def _threads() -> int:
    return max(1, int(getattr(settings, "CATALOG_LOCATION_THREADS", 8)))


# --- what a person gives -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationSpec:
    provider: str
    host: str
    repository: str
    clone_url: str
    web_url: str
    ref: str
    path: str


_REF = re.compile(r"^[^\s~^:?*\[\\\x00-\x1f\x7f]{1,255}$")


def clean_path(path: str) -> str:
    """A file path inside a repository: relative, normalised, never above the repository's root."""
    raw = (path or "").strip().lstrip("/")
    if not raw or "\x00" in raw:
        raise ServiceError("Give the path of the catalog file in the repository (for example catalog-info.yaml).")
    normal = posixpath.normpath(raw)
    if normal in (".", "..") or normal.startswith("../"):
        raise ServiceError(f"The path {path!r} points outside the repository.")
    return normal[:1000]


def clean_ref(ref: str) -> str:
    ref = (ref or "").strip()
    if not _REF.match(ref) or ".." in ref or ref.endswith((".lock", "/")) or ref.startswith("-"):
        raise ServiceError(f"{ref!r} is not a branch, tag or commit name Git accepts.")
    return ref


def _refused(exc: host_errors.GitHostError) -> ServiceError:
    return ServiceError(str(exc))


def spec_from_url(url: str) -> LocationSpec:
    """A GitHub or GitLab file URL (``…/blob/REF/PATH``) on a configured host."""
    url = (url or "").strip()
    try:
        file = providers.parse_file_url(url)
    except host_errors.GitHostError as exc:
        raise _refused(exc) from None
    repo = file.repository
    return LocationSpec(
        provider=repo.integration.type,
        host=repo.integration.host,
        repository=repo.slug,
        clone_url=repo.clone_url,
        web_url=repo.web_url,
        ref=clean_ref(file.ref),
        path=clean_path(file.path),
    )


def spec_from_repository(clone_url: str, ref: str, path: str) -> LocationSpec:
    """A repository's clone (or web) URL, a branch/tag/commit and a path."""
    try:
        repo = providers.repository_from_url((clone_url or "").strip())
    except host_errors.GitHostError as exc:
        raise _refused(exc) from None
    return LocationSpec(
        provider=repo.integration.type,
        host=repo.integration.host,
        repository=repo.slug,
        clone_url=repo.clone_url,
        web_url=repo.web_url if repo.integration.type != "git" else "",
        ref=clean_ref(ref),
        path=clean_path(path),
    )


# --- reading one location ------------------------------------------------------------------------


def glob_match(pattern: str, path: str) -> bool:
    """``*`` and ``?`` stay within a folder, ``**`` crosses folders, ``[...]`` is a set."""
    return re.fullmatch(_glob_regex(pattern), path) is not None


def _glob_regex(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def resolve_path(base: str, target: str) -> str | None:
    """``target`` relative to the folder of ``base`` (or to the repository root with a leading /); None if it leaves."""
    joined = target.lstrip("/") if target.startswith("/") else posixpath.join(posixpath.dirname(base), target)
    normal = posixpath.normpath(joined)
    if normal in (".", "..") or normal.startswith("../") or normal.startswith("/"):
        return None
    return normal


class _Unavailable(Exception):
    """A transient failure while reading a location: nothing of it is written this time."""

    def __init__(self, error: host_errors.GitHostError):
        super().__init__(str(error))
        self.error = error


class _Reader:
    """Reads the files of one location's repository at its ref, and remembers each version it saw."""

    def __init__(self, location: CatalogLocation, integration: Integration):
        self.location = location
        self.integration = integration
        self.host = providers.host_for(integration)
        self.repo = providers.Repository(
            integration=integration,
            slug=location.repository,
            clone_url=location.clone_url,
            web_url=location.web_url,
        )
        self.plain_git = integration.type == "git"
        self.versions: dict[str, dict] = {}
        self.texts: dict[str, tuple[str, str]] = {}  # path -> (text, version) read in this run
        self.resolved_sha: str | None = None  # plain Git: the commit the ref points at now
        self._paths: dict[str, str] | None = None
        self._snapshot = None

    @property
    def commit_sha(self) -> str:
        return self.resolved_sha or ""

    # -- "changed since?" --

    def unchanged(self) -> bool:
        """Does the host say that nothing this location read last time has changed?"""
        files = self.location.files or {}
        if not files or self.location.status != LocationStatus.OK:
            return False
        if self.plain_git:
            self.resolved_sha = self.host.remote(self.repo).resolve(self.location.ref)
            return self.resolved_sha == self.location.commit_sha
        # The catalog file first (the database may keep the keys in any order).
        for path, info in sorted(files.items(), key=lambda item: item[0] != self.location.path):
            if info.get("kind") == "listing":
                if self.listing_version(path) != info.get("version"):
                    return False
                continue
            try:
                read = self.host.read_file(self.repo, self.location.ref, path, known=info.get("version", ""))
            except host_errors.NotFound:
                if path == self.location.path:
                    raise
                return False  # a file it read is gone: read it all again (and orphan what that file held)
            if read.changed:
                self.texts[path] = (read.text, read.version)
                return False
        return True

    # -- reading --

    def snapshot(self):
        if self._snapshot is None:
            remote = self.host.remote(self.repo)
            if self.resolved_sha is None:
                self.resolved_sha = remote.resolve(self.location.ref)
            self._snapshot = remote.snapshot(self.resolved_sha)
        return self._snapshot

    def read(self, path: str, kind: str) -> str:
        if path in self.texts:
            text, version = self.texts[path]
        elif self.plain_git:
            snapshot = self.snapshot()
            version = snapshot.blob_id(path) or ""
            if not version:
                raise host_errors.NotFound(f"{path} does not exist in {self.location.repository}@{self.location.ref}.")
            try:
                text = snapshot.read(path).decode("utf-8")
            except UnicodeDecodeError:
                raise host_errors.GitHostError(f"{path} is not UTF-8 text.") from None
        else:
            read = self.host.read_file(self.repo, self.location.ref, path)
            text, version = read.text, read.version
        self.texts[path] = (text, version)
        self.versions.setdefault(path, {"kind": kind, "version": version})
        return text

    def paths(self) -> dict[str, str]:
        if self._paths is None:
            if self.plain_git:
                self._paths = dict(self.snapshot().files)
            else:
                self._paths = self.host.list_files(self.repo, self.location.ref)
        return self._paths

    def listing_version(self, pattern: str) -> str:
        matched = sorted((p, oid) for p, oid in self.paths().items() if glob_match(pattern, p))
        return hashlib.sha256(repr(matched).encode()).hexdigest()[:32]


class _Resolver:
    """Resolves a location's targets and substitutions within its repository and ref."""

    def __init__(self, reader: _Reader):
        self.reader = reader
        self.location = reader.location
        self.labels: set[str] = set()
        self.failure: host_errors.GitHostError | None = None

    def label(self, path: str) -> str:
        return f"{self.location.repository}@{self.location.ref}:{path}"

    def source(self, path: str, text: str) -> _Source:
        label = self.label(path)
        self.labels.add(label)
        return _Source(
            key=source_key(self.location.pk, path),
            label=label,
            text=text,
            resolver=self,
            path=path,
            max_bytes=None,
        )

    def _read(self, path: str, kind: str) -> str:
        try:
            return self.reader.read(path, kind)
        except host_errors.GitHostError as exc:
            if not exc.permanent:
                self.failure = self.failure or exc
                raise _Unavailable(exc) from None
            raise

    def targets(self, targets: list[str], source: _Source, problem) -> list[_Source]:
        out: list[_Source] = []
        for target in targets:
            if not isinstance(target, str) or not target.strip():
                continue
            if "://" in target or target.startswith("//"):
                problem(
                    f"'{target}': a Location in a Git repository may only name files of the same repository "
                    "and ref (relative paths)"
                )
                continue
            resolved = resolve_path(source.path, target.strip())
            if resolved is None:
                problem(f"'{target}' points outside the repository")
                continue
            if any(c in resolved for c in GLOB_CHARACTERS):
                try:
                    matches = sorted(p for p in self.reader.paths() if glob_match(resolved, p))
                    version = self.reader.listing_version(resolved)
                except host_errors.GitHostError as exc:
                    if not exc.permanent:
                        self.failure = self.failure or exc
                    problem(f"'{target}': {exc}")
                    continue
                self.reader.versions[resolved] = {"kind": "listing", "version": version}
                if not matches:
                    problem(f"'{target}' matches no file in {self.location.repository}@{self.location.ref}")
            else:
                matches = [resolved]
            for path in matches:
                try:
                    text = self._read(path, "target")
                except _Unavailable as exc:
                    problem(str(exc))
                    continue
                except host_errors.NotFound:
                    problem(f"'{target}' does not exist in {self.location.repository}@{self.location.ref}")
                    continue
                except host_errors.GitHostError as exc:
                    problem(f"'{target}': {exc}")
                    continue
                out.append(self.source(path, text))
        return out

    def substitution(self, key: str, target, source: _Source) -> str:
        if "://" in target or target.startswith("//"):
            raise Invalid(key, f"'{target}': only files of the same repository and ref can be read, not URLs")
        resolved = resolve_path(source.path, target)
        if resolved is None:
            raise Invalid(key, f"'{target}' points outside the repository")
        try:
            return self._read(resolved, "substitution")
        except _Unavailable as exc:
            raise Invalid(key, f"cannot read '{target}': {exc}") from None
        except host_errors.NotFound:
            raise Invalid(key, f"'{target}' does not exist in {self.location.repository}@{self.location.ref}") from None
        except host_errors.GitHostError as exc:
            raise Invalid(key, f"cannot read '{target}': {exc}") from None


# --- refreshing ----------------------------------------------------------------------------------


@dataclass
class LocationOutcome:
    """What one refresh did to one location."""

    location_id: int
    status: str  # "unchanged", "read", "error", "deferred"
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    error: str = ""
    missing: bool = False  # the catalog file (or its repository or ref) does not exist

    def as_dict(self) -> dict:
        return {
            "location": self.location_id,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "orphaned": self.orphaned,
            "problems": self.problems,
            "conflicts": self.conflicts,
            "error": self.error,
        }

    def summary(self) -> str:
        if self.status == "error":
            return f"error: {self.error}"
        if self.status == "deferred":
            return f"deferred: {self.error}"
        if self.status == "unchanged":
            return "unchanged"
        text = f"{len(self.created)} created, {len(self.updated)} updated, {len(self.orphaned)} orphaned"
        if self.problems:
            text += f", {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        if self.conflicts:
            text += f", {len(self.conflicts)} conflict{'s' if len(self.conflicts) != 1 else ''}"
        return text


@dataclass
class _Work:
    location: CatalogLocation
    reader: _Reader | None = None
    root_text: str | None = None
    outcome: LocationOutcome | None = None
    retry_at: object = None


def _check(work: _Work, force: bool) -> None:
    """In a worker thread: ask whether the location changed; if so (or forced), read its catalog file."""
    location = work.location
    try:
        if not force and work.reader.unchanged():
            work.outcome = LocationOutcome(location.pk, "unchanged")
            return
        work.root_text = work.reader.read(location.path, "catalog")
    except host_errors.RateLimited as exc:
        work.retry_at = exc.retry_at
        work.outcome = LocationOutcome(location.pk, "deferred", error=str(exc))
    except host_errors.GitHostError as exc:
        work.outcome = LocationOutcome(location.pk, "error", error=str(exc))
        work.outcome.missing = isinstance(exc, host_errors.NotFound)
    except Exception as exc:  # noqa: BLE001 - one broken location must not stop the others
        logger.exception("Reading location %s failed", location.pk)
        work.outcome = LocationOutcome(location.pk, "error", error=f"{exc.__class__.__name__}: {exc}"[:500])


def _integrations_for(locations) -> dict[str, Integration | None]:
    return {host: integration_for_host(host) for host in {loc.host for loc in locations}}


def locations_refresh(
    *, locations: list[CatalogLocation], force: bool = False, prefetched: dict | None = None
) -> list[LocationOutcome]:
    """Refresh these locations: ask what changed, read what did, import it all in one transaction.

    ``force`` reads every location again (the import still writes nothing for unchanged entities).
    Each location's row is written only when its state changed (so an unchanged catalog costs no
    write at all). ``prefetched`` ({location id: FileRead of its catalog file}) saves reading a file
    the caller read already (discovery). Returns one outcome per location.
    """
    if not locations:
        return []
    integrations = _integrations_for(locations)
    works = []
    for location in locations:
        work = _Work(location)
        integration = integrations.get(location.host)
        if integration is None:
            work.outcome = LocationOutcome(
                location.pk,
                "error",
                error=f"{location.host} has no Git integration any more; a Platform Admin adds one.",
            )
        else:
            work.reader = _Reader(location, integration)
            if prefetched and location.pk in prefetched:
                read = prefetched[location.pk]
                work.reader.texts[location.path] = (read.text, read.version)
        works.append(work)
    pending = [w for w in works if w.outcome is None]
    if len(pending) == 1:
        _check(pending[0], force)
    elif pending:
        with ThreadPoolExecutor(max_workers=min(_threads(), len(pending))) as pool:
            list(pool.map(lambda w: _check(w, force), pending))
    to_read = [w for w in works if w.outcome is None]
    if to_read:
        _import_locations(to_read)
    _save_states(works)
    return [w.outcome for w in works]


def _import_locations(works: list[_Work]) -> None:
    """Import the changed locations together; a location that fails on the way writes nothing."""
    result = ImportResult()
    resolvers = {w.location.pk: _Resolver(w.reader) for w in works}
    sources = [resolvers[w.location.pk].source(w.location.path, w.root_text) for w in works]
    batch = _parse_sources(sources, result, follow_locations=True, roots=None)
    failed_locations = {pk for pk, resolver in resolvers.items() if resolver.failure is not None}
    for work in works:
        resolver = resolvers[work.location.pk]
        if resolver.failure is not None:
            work.outcome = LocationOutcome(work.location.pk, "error", error=str(resolver.failure))
    if failed_locations:  # nothing of a location read only in part is written, and its conflicts stay
        batch.parsed = {k: v for k, v in batch.parsed.items() if location_id_of(v.source) not in failed_locations}
        batch.claims = [c for c in batch.claims if location_id_of(c.item.source) not in failed_locations]
        batch.read = [key for key in batch.read if location_id_of(key) not in failed_locations]
    read_ids = [w.location.pk for w in works if w.location.pk not in failed_locations]
    orphaned: dict[int, list[str]] = {}

    def orphan_with(scope, seen, failed, listed, now) -> list[str]:
        orphaned.update(_orphan_locations(read_ids, seen, failed, listed, now))
        return sorted(ref for refs in orphaned.values() for ref in refs)

    with transaction.atomic():
        _write(
            batch,
            result,
            actor=None,
            scope=[("prefix", source_key(pk, "")) for pk in read_ids],
            orphan_with=orphan_with,
        )
    by_label = {label: pk for pk, resolver in resolvers.items() for label in resolver.labels}
    outcomes = {w.location.pk: LocationOutcome(w.location.pk, "read") for w in works}
    sources = _sources_of(result.created + result.updated)
    for refs, name in ((result.created, "created"), (result.updated, "updated")):
        for ref in refs:
            outcome = outcomes.get(location_id_of(sources.get(ref, "")))
            if outcome is not None:
                getattr(outcome, name).append(ref)
    for problem in result.problems:
        outcome = outcomes.get(by_label.get(problem.file))
        if outcome is not None and len(outcome.problems) < 200:
            outcome.problems.append(problem.as_dict())
    for conflict in result.conflicts:
        outcome = outcomes.get(_conflict_location(conflict, by_label))
        if outcome is not None and len(outcome.conflicts) < 200:
            outcome.conflicts.append(_conflict_dict(conflict))
    for work in works:
        pk = work.location.pk
        if pk in failed_locations:
            continue
        outcome = outcomes[pk]
        outcome.created.sort()
        outcome.updated.sort()
        outcome.orphaned = orphaned.get(pk, [])
        work.outcome = outcome


def _conflict_dict(conflict) -> dict:
    return conflict.as_dict() if hasattr(conflict, "as_dict") else dict(conflict)


def _conflict_location(conflict, by_label: dict) -> int | None:
    data = _conflict_dict(conflict)
    for key in ("source", "file", "label"):
        value = data.get(key) or ""
        if value in by_label:
            return by_label[value]
        found = location_id_of(value)
        if found is not None:
            return found
    return None


def _sources_of(refs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(refs))):
        found.update(Entity.objects.filter(ref_key__in=chunk).values_list("ref_key", "source"))
    return found


def _orphan_locations(
    location_ids: list[int], seen: dict[str, str], failed: set[str], listed: set[tuple[str, str]], now
) -> dict[int, list[str]]:
    """Entities of these locations that the read did not produce are marked orphaned (by location).

    The rules are ``_orphan``'s (a file read only in part, or an invalid document, keeps its
    entities); the work is one query for all locations instead of one per location.
    """
    if not location_ids:
        return {}
    wanted = set(location_ids)
    if len(wanted) <= 20:
        rows = []
        for pk in wanted:
            rows.extend(
                Entity.objects.filter(source__startswith=source_key(pk, ""), orphaned=False).values_list(
                    "id", "ref_key", "source"
                )
            )
    else:
        rows = [
            row
            for row in Entity.objects.filter(source__startswith=SOURCE_PREFIX, orphaned=False).values_list(
                "id", "ref_key", "source"
            )
            if location_id_of(row[2]) in wanted
        ]
    gone = [
        (pk, ref, src) for pk, ref, src in rows if ref not in seen and src not in failed and (src, ref) not in listed
    ]
    for chunk in _chunks([pk for pk, _ref, _src in gone]):
        Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
    by_location: dict[int, list[str]] = {}
    for _pk, ref, src in gone:
        by_location.setdefault(location_id_of(src), []).append(ref)
    return {pk: sorted(refs) for pk, refs in by_location.items()}


def _save_states(works: list[_Work]) -> None:
    """Write each location's new state, and only where it changed."""
    now = timezone.now()
    changed_rows = []
    for work in works:
        location, outcome = work.location, work.outcome
        before = (location.status, location.error, location.retry_at, location.files, location.commit_sha)
        if outcome.status == "unchanged":
            location.error, location.retry_at = "", None
        elif outcome.status in ("error", "deferred"):
            location.error = outcome.error[:2000]
            location.retry_at = work.retry_at
            if outcome.status == "error":
                location.status = LocationStatus.ERROR
        else:
            location.status = LocationStatus.OK
            location.error, location.retry_at = "", None
            location.refreshed_at = now
            location.files = work.reader.versions
            location.commit_sha = work.reader.commit_sha if work.reader.plain_git else ""
            location.problems = outcome.problems
            location.conflicts = outcome.conflicts
            if outcome.created or outcome.updated or outcome.orphaned or not location.changed_at:
                location.changed_at = now
                location.last_changes = {
                    "created": outcome.created[:500],
                    "updated": outcome.updated[:500],
                    "orphaned": outcome.orphaned[:500],
                    "counts": [len(outcome.created), len(outcome.updated), len(outcome.orphaned)],
                }
            changed_rows.append(location)
            continue
        after = (location.status, location.error, location.retry_at, location.files, location.commit_sha)
        if after != before:
            changed_rows.append(location)
    # One UPDATE per changed row: bulk_update's CASE expressions cost seconds for 1,000 rows.
    fields = (
        "status",
        "error",
        "retry_at",
        "refreshed_at",
        "changed_at",
        "files",
        "commit_sha",
        "problems",
        "conflicts",
        "last_changes",
    )
    with transaction.atomic():
        for location in changed_rows:
            CatalogLocation.objects.filter(pk=location.pk).update(**{f: getattr(location, f) for f in fields})


def location_refresh(*, location: CatalogLocation, force: bool = True) -> LocationOutcome:
    """Refresh one location now (from the page, the API or the command)."""
    return locations_refresh(locations=[location], force=force)[0]


def locations_refresh_all(*, force: bool = False) -> LocationSweep:
    """The scheduled refresh: every location that is not waiting out a rate limit, in batches."""
    now = timezone.now()
    sweep, _ = LocationSweep.objects.get_or_create(pk=1)
    checked = changed = failed = 0
    ids = list(CatalogLocation.objects.exclude(retry_at__gt=now).order_by("pk").values_list("pk", flat=True))
    batch = int(getattr(settings, "CATALOG_LOCATION_BATCH", 1000))
    for chunk in _chunks(ids, batch):
        locations = list(CatalogLocation.objects.filter(pk__in=chunk).order_by("pk"))
        for outcome in locations_refresh(locations=locations, force=force):
            checked += 1
            changed += outcome.status == "read"
            failed += outcome.status in ("error", "deferred")
    LocationSweep.objects.filter(pk=1).update(
        started_at=now, finished_at=timezone.now(), checked=checked, changed=changed, failed=failed
    )
    sweep.refresh_from_db()
    return sweep


def locations_refresh_for_push(
    *, host: str, repository: str, branch: str, paths: list[str] | None, default_branch: str = ""
) -> list[LocationOutcome]:
    """A push reached ``branch``: refresh the locations on it whose files it touched (all of them if unknown)."""
    candidates = [
        loc
        for loc in CatalogLocation.objects.filter(host=host.lower(), repository__iexact=repository)
        if loc.ref == branch or (loc.discovery_id and default_branch and branch == default_branch)
    ]
    if paths is not None:
        touched = set(paths)
        candidates = [loc for loc in candidates if _touches(loc, touched)]
    return locations_refresh(locations=candidates, force=False)


def _touches(location: CatalogLocation, touched: set[str]) -> bool:
    known = location.files or {}
    if not known or location.path in touched:
        return True
    for path, info in known.items():
        if info.get("kind") == "listing":
            if any(glob_match(path, t) for t in touched):
                return True
        elif path in touched:
            return True
    return False


# --- registering and removing --------------------------------------------------------------------


def location_add(
    *,
    actor,
    url: str = "",
    repository: str = "",
    ref: str = "",
    path: str = "",
    refresh: bool = True,
    discovery=None,
) -> tuple[CatalogLocation, LocationOutcome | None]:
    """Register a location (a file URL, or a repository + ref + path) and read it at once."""
    if actor is not None and not permissions.can_manage_locations(actor):
        raise PermissionDenied("Only Platform Admins register catalog locations; ask one to add your repository.")
    if url and (repository or ref or path):
        raise ServiceError("Give either a file URL, or a repository with a ref and a path, not both.")
    if url:
        spec = spec_from_url(url)
    elif repository:
        if not ref or not path:
            raise ServiceError("A repository location needs a ref (branch, tag or commit) and a path.")
        spec = spec_from_repository(repository, ref, path)
    else:
        raise ServiceError("Give a file URL, or a repository with a ref and a path.")
    with transaction.atomic():
        existing = CatalogLocation.objects.filter(
            host=spec.host, repository=spec.repository, ref=spec.ref, path=spec.path
        ).first()
        if existing is not None:
            raise ServiceError(f"This location is registered already (location {existing.pk}).")
        location = CatalogLocation.objects.create(
            provider=spec.provider,
            host=spec.host,
            repository=spec.repository,
            clone_url=spec.clone_url,
            web_url=spec.web_url,
            ref=spec.ref,
            path=spec.path,
            created_by=actor,
            discovery=discovery,
        )
        audit_record(actor=actor, action="catalog.location.add", obj=location, changes={"location": location.display})
    outcome = location_refresh(location=location) if refresh else None
    return location, outcome


def location_remove(*, actor, location: CatalogLocation) -> list[str]:
    """Unregister a location; its entities are orphaned (a Platform Admin deletes orphans). Returns their refs."""
    if actor is not None and not permissions.can_manage_locations(actor):
        raise PermissionDenied("Only Platform Admins remove catalog locations.")
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Entity.objects.filter(source__startswith=location.source_prefix, orphaned=False).values_list(
                "id", "ref_key"
            )
        )
        for chunk in _chunks([pk for pk, _ref in rows]):
            Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
        if rows:
            catalog_changed()
        audit_record(
            actor=actor,
            action="catalog.location.remove",
            obj=location,
            changes={"location": location.display, "orphaned": len(rows)},
        )
        location.delete()
    return sorted(ref for _pk, ref in rows)
