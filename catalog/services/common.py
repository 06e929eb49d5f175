"""What every catalog service shares: import results, sources, fingerprints, chunking, the catalog version."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from catalog.descriptors import Descriptor, Problem
from catalog.descriptors import ref_key as make_ref_key
from catalog.models import CatalogVersion, Entity

CHUNK = 2000


CATALOG_FILE_NAMES = ("catalog-info.yaml", "catalog-info.yml")


ENTITY_FIELDS = (
    "kind",
    "namespace",
    "name",
    "api_version",
    "title",
    "description",
    "spec_type",
    "lifecycle",
    "labels",
    "annotations",
    "tags",
    "links",
    "spec",
    "owner_ref",
    "system_ref",
    "tag_text",
    "search_text",
    "source",
    "orphaned",
    "fingerprint",
    "updated_at",
)


def entity_ref(kind: str, namespace: str, name: str) -> str:
    return make_ref_key(kind, namespace, name)


def upload_limit() -> int:
    return int(getattr(settings, "CATALOG_UPLOAD_MAX_BYTES", 10 * 1024 * 1024))


def import_roots() -> list[Path]:
    return [Path(root).resolve() for root in getattr(settings, "CATALOG_IMPORT_ROOTS", [])]


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    orphaned: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)  # copies refused: another source owns the entity

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{self.unchanged} unchanged",
            f"{len(self.orphaned)} orphaned",
        ]
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} conflict{'s' if len(self.conflicts) != 1 else ''}")
        if self.problems:
            parts.append(f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "orphaned": self.orphaned,
            "files": self.files,
            "conflicts": self.conflicts,
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass
class _Source:
    """One piece of input: its text, how to name it, and where relative files may come from."""

    key: str  # stored on each entity, e.g. file:/abs/path or upload:name
    label: str  # shown in problems
    text: str
    base_dir: Path | None = None
    root: Path | None = None
    max_bytes: int | None = None  # for files it leads to (Locations, $text); None: no limit
    # A file read from a Git repository: ``resolver`` reads the files it leads to from the same
    # repository and ref (see catalog.services.git_locations); ``path`` is its path there.
    resolver: object | None = None
    path: str = ""


@dataclass
class _Parsed:
    descriptor: Descriptor | None  # None: unchanged since the last import, not validated again
    source: str
    fingerprint: str
    label: str = ""  # the file (or name) it was read from, for problems
    document: int | None = None


class _Stored(NamedTuple):
    """What an import needs to know of a stored entity."""

    id: int
    fingerprint: str
    orphaned: bool
    owner_ref: str
    source: str


@dataclass
class _Claim:
    """A copy of an entity that its source may not write, because another source owns the entity."""

    key: str
    item: _Parsed
    owner: str  # the owning source


@dataclass
class _Batch:
    """What parsing produced, ready to be written."""

    parsed: dict[str, _Parsed]
    existing: dict[str, _Stored] | None = None
    failed: set[str] = field(default_factory=set)  # sources read only in part (a syntax error): keep as they were
    listed: set[tuple[str, str]] = field(default_factory=set)  # (source, ref) of invalid documents: still listed
    read: list[str] = field(default_factory=list)  # every source read (its conflicts are brought up to date)
    claims: list[_Claim] = field(default_factory=list)  # copies refused within the import itself


def _fingerprint(source_key: str, doc, text: str | None) -> str:
    """Hash of where a document came from and what it says: its text when known, else its data."""
    body = text if text is not None else json.dumps(doc, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{source_key}\n{body}".encode()).hexdigest()


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ids_by_ref(refs: Iterable[str]) -> dict[str, int]:
    return dict(_entity_rows("ref_key", refs, ("ref_key", "id")))


def _entity_rows(column: str, values: Iterable[str], columns: tuple[str, ...]):
    """The ``columns`` of the entities whose ``column`` is one of ``values``, as tuples.

    On PostgreSQL one query whatever the number of values (an array parameter: 20,000
    placeholders cost more to build and parse than the lookup itself); elsewhere in chunks.
    """
    values = sorted(set(values))
    if not values:
        return
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        names = ", ".join(quote(c) for c in columns)
        table, where = quote(Entity._meta.db_table), quote(column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {names} FROM {table} WHERE {where} = ANY(%s)",  # noqa: S608  # nosec B608: quoted model columns
                [values],
            )
            yield from cursor.fetchall()
        return
    for chunk in _chunks(values):
        yield from Entity.objects.filter(**{f"{column}__in": chunk}).values_list(*columns)


def catalog_changed() -> None:
    """Give the catalog a new version (call inside the change's transaction): cached counts are then stale.

    A random stamp rather than +1: a rolled-back change must never leave a version number that a later
    change could reuse with other data.
    """
    stamp = secrets.randbits(62)
    if not CatalogVersion.objects.filter(pk=1).update(version=stamp):
        CatalogVersion.objects.update_or_create(pk=1, defaults={"version": stamp})


def _batches(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
