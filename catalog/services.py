"""Every change to the catalog goes through here.

Import is one pipeline whatever the input (pasted text, an upload, files and
directories, the API, the entity form): read -> parse -> substitute ``$text``
etc. -> validate -> write in bulk. Writing compares a fingerprint of each
descriptor with the stored one, so an unchanged entity costs no write at all.
"""

from __future__ import annotations

import glob
import hashlib
import json
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, JSONField, OuterRef, Q, Subquery
from django.utils import timezone

from catalog import permissions, selectors
from catalog.descriptors import (
    DOCUMENT_BATCH,
    Descriptor,
    Invalid,
    Problem,
    SafeLoader,
    iter_documents,
    validate,
)
from catalog.descriptors import (
    ref_key as make_ref_key,
)
from catalog.models import LEVEL_ORDER, CatalogVersion, Entity, Kind, Relation, Scorecard, ScorecardResult
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError, audit_record

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


# --- reading -----------------------------------------------------------------------


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _root_for(path: Path, roots: list[Path]) -> Path | None:
    for root in roots:
        if _within(path, root):
            return root
    return None


def _read_file(path: Path, root: Path, result: ImportResult, max_bytes: int | None) -> _Source | None:
    label = str(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            result.problems.append(
                Problem(file=label, document=None, field="", reason=f"the file is larger than {max_bytes} bytes")
            )
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(Problem(file=label, document=None, field="", reason=f"cannot read the file: {exc}"))
        return None
    return _Source(key=f"file:{path}", label=label, text=text, base_dir=path.parent, root=root, max_bytes=max_bytes)


def _collect_files(paths: Iterable[str], roots: list[Path] | None, result: ImportResult) -> tuple[list[Path], list]:
    """Files to read and the orphaning scope (file keys and directory prefixes)."""
    files: list[tuple[Path, Path]] = []
    scope: list[tuple[str, str]] = []  # ("exact", key) or ("prefix", key)
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if roots is not None:
            root = _root_for(path, roots)
            if root is None:
                allowed = ", ".join(str(r) for r in roots) or "none are configured (CATALOG_IMPORT_ROOTS)"
                result.problems.append(
                    Problem(
                        file=str(raw),
                        document=None,
                        field="path",
                        reason=f"refused: the path is outside the import roots ({allowed})",
                    )
                )
                continue
        else:
            root = path if path.is_dir() else path.parent
        if path.is_dir():
            found = sorted(p for name in CATALOG_FILE_NAMES for p in path.rglob(name) if p.is_file())
            if not found:
                result.problems.append(
                    Problem(file=str(path), document=None, field="path", reason="no catalog-info.yaml below it")
                )
            files.extend((p.resolve(), root) for p in found)
            scope.append(("prefix", f"file:{path}/"))
        elif path.is_file():
            files.append((path, root))
            scope.append(("exact", f"file:{path}"))
        else:
            result.problems.append(Problem(file=str(raw), document=None, field="path", reason="no such file or folder"))
    return files, scope


# --- substitutions ---------------------------------------------------------------


def _substitute(value, source: _Source):
    """Replace ``{$text: ./file}``, ``{$json: ...}`` and ``{$yaml: ...}`` with the file's content."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, target),) = value.items()
            if key in ("$text", "$json", "$yaml"):
                return _read_substitution(key, target, source)
        return {k: _substitute(v, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, source) for v in value]
    return value


def _read_substitution(key: str, target, source: _Source):
    if not isinstance(target, str) or not target:
        raise Invalid(key, "needs a relative file path")
    if "://" in target:
        raise Invalid(key, f"'{target}': Bridge reads local files only, not URLs")
    if source.base_dir is None or source.root is None:
        raise Invalid(key, f"'{target}': pasted or uploaded YAML has no folder to read files from; import a folder")
    path = (source.base_dir / target).resolve()
    if not _within(path, source.root):
        raise Invalid(key, f"'{target}' points outside the import root")
    try:
        if source.max_bytes is not None and path.stat().st_size > source.max_bytes:
            raise Invalid(key, f"'{target}' is larger than {source.max_bytes} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(key, f"cannot read '{target}': {exc.__class__.__name__}")
    if key == "$text":
        return text
    try:
        return json.loads(text) if key == "$json" else yaml.load(text, Loader=SafeLoader)  # noqa: S506
    except (ValueError, yaml.YAMLError) as exc:
        raise Invalid(key, f"'{target}' is not valid {key[1:].upper()}: {exc}")


# --- the pipeline -----------------------------------------------------------------


@dataclass
class _Parsed:
    descriptor: Descriptor | None  # None: unchanged since the last import, not validated again
    source: str
    fingerprint: str


def _fingerprint(source_key: str, doc, text: str | None) -> str:
    """Hash of where a document came from and what it says: its text when known, else its data."""
    body = text if text is not None else json.dumps(doc, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{source_key}\n{body}".encode()).hexdigest()


def _guess_ref(doc) -> str | None:
    """The ref a document will have if it is valid (to find its stored fingerprint before validating it)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return None
    kind, metadata = doc.get("kind"), doc["metadata"]
    name, namespace = metadata.get("name"), metadata.get("namespace") or "default"
    if isinstance(kind, str) and isinstance(name, str) and isinstance(namespace, str):
        return make_ref_key(kind, namespace, name)
    return None


def _fetch_existing(keys) -> dict[str, tuple]:
    """ref -> (id, fingerprint, orphaned, owner_ref) of the stored entities among ``keys``."""
    wanted = set(keys)
    if not wanted:
        return {}
    columns = ("ref_key", "id", "fingerprint", "orphaned", "owner_ref")
    existing: dict[str, tuple] = {}
    for chunk in _chunks(sorted(wanted)):
        for row in Entity.objects.filter(ref_key__in=chunk).values_list(*columns):
            existing[row[0]] = row[1:]
    return existing


def _parse_sources(sources: list[_Source], result: ImportResult, *, follow_locations: bool, roots) -> tuple:
    """Parse every source (following Locations); returns parsed entities, failed source keys and stored rows.

    A document whose fingerprint equals the stored one is not validated again: it is unchanged
    (that makes re-importing 20,000 unchanged entities a matter of hashing them). Documents go
    through in batches, so the raw YAML of a large file never sits in memory all at once.
    """
    failed_sources: set[str] = set()
    seen_files: set[str] = set()
    existing: dict[str, tuple] = {}
    looked_up: set[str] = set()
    parsed: dict[str, _Parsed] = {}
    queue = deque(sources)

    def problem(source: _Source, index: int, doc, exc: Invalid) -> None:
        failed_sources.add(source.key)
        result.problems.append(
            Problem(file=source.label, document=index, field=exc.field, reason=exc.reason, entity=_name_of(doc))
        )

    def take(batch: list[tuple]) -> None:
        guesses = {guess for _source, _index, _doc, guess, _fp, _loc in batch if guess} - looked_up
        existing.update(_fetch_existing(guesses))
        looked_up.update(guesses)
        for source, index, doc, guess, fingerprint, location in batch:
            stored = existing.get(guess) if guess else None
            if stored is not None and stored[1] == fingerprint and not stored[2] and guess not in parsed:
                parsed[guess] = _Parsed(None, source.key, fingerprint)  # unchanged: nothing to validate or write
                continue
            try:
                descriptor = location or validate(doc)
            except Invalid as exc:
                problem(source, index, doc, exc)
                continue
            key = descriptor.ref_key
            if key in parsed:
                result.problems.append(
                    Problem(
                        file=source.label,
                        document=index,
                        field="metadata.name",
                        reason=f"{key} appears twice in this import (first in {parsed[key].source}); "
                        "this later one was skipped",
                        entity=key,
                    )
                )
                continue
            parsed[key] = _Parsed(descriptor, source.key, fingerprint)

    while queue:
        source = queue.popleft()
        if source.key in seen_files:
            continue
        seen_files.add(source.key)
        result.files.append(source.label)
        needs_substitution = "$text" in source.text or "$json" in source.text or "$yaml" in source.text
        problems: list[Problem] = []
        batch: list[tuple] = []
        for index, doc, text in iter_documents(source.text, file=source.label, problems=problems):
            location = None
            try:
                if needs_substitution:
                    substituted = _substitute(doc, source)
                    if substituted != doc:
                        doc, text = substituted, None
                if isinstance(doc, dict) and str(doc.get("kind", "")).lower() == "location":
                    location = validate(doc)  # now, to follow its targets
                    if follow_locations:
                        queue.extend(_location_targets(location, source, index, result, roots))
            except Invalid as exc:
                problem(source, index, doc, exc)
                continue
            batch.append((source, index, doc, _guess_ref(doc), _fingerprint(source.key, doc, text), location))
            if len(batch) >= DOCUMENT_BATCH:
                take(batch)
                batch = []
        take(batch)
        if problems:
            failed_sources.add(source.key)
            result.problems.extend(problems)
    missing = [key for key in parsed if key not in looked_up]  # refs that validation spelled otherwise
    existing.update(_fetch_existing(missing))
    return parsed, failed_sources, existing


def _name_of(doc) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        name = doc["metadata"].get("name")
        kind = doc.get("kind")
        if isinstance(name, str) and isinstance(kind, str):
            return f"{kind.lower()}:{name}"
    return ""


def _location_targets(descriptor: Descriptor, source: _Source, index: int, result: ImportResult, roots):
    spec = descriptor.spec
    targets = ([spec["target"]] if spec.get("target") else []) + list(spec.get("targets") or [])

    def problem(reason: str) -> None:
        result.problems.append(
            Problem(file=source.label, document=index, field="spec.target", reason=reason, entity=descriptor.ref_key)
        )

    if spec.get("type", "file") not in ("file", "", None) or any("://" in t for t in targets):
        problem("only file locations are followed; Bridge does not fetch URLs")
        return []
    if source.base_dir is None or source.root is None:
        problem("a Location in pasted or uploaded YAML cannot be followed; import its folder instead")
        return []
    out: list[_Source] = []
    for target in targets:
        pattern = str(source.base_dir / target)
        matches = sorted(glob.glob(pattern, recursive=True)) if any(c in target for c in "*?[") else [pattern]
        for match in matches:
            path = Path(match).resolve()
            if not _within(path, source.root):
                problem(f"'{target}' points outside the import root")
                continue
            if not path.is_file():
                problem(f"'{target}' does not exist")
                continue
            read = _read_file(path, source.root, result, source.max_bytes)
            if read is not None:
                out.append(read)
    return out


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ids_by_ref(refs: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(refs))):
        found.update(Entity.objects.filter(ref_key__in=chunk).values_list("ref_key", "id"))
    return found


def _row(item: _Parsed, now) -> dict:
    """The column values of one entity (plain dicts: 20,000 model instances cost seconds)."""
    d = item.descriptor
    return {
        "kind": d.kind,
        "namespace": d.namespace,
        "name": d.name,
        "api_version": d.api_version,
        "title": d.title,
        "description": d.description,
        "spec_type": d.spec_type[:100],
        "lifecycle": d.lifecycle[:100],
        "labels": d.labels,
        "annotations": d.annotations,
        "tags": d.tags,
        "links": d.links,
        "spec": d.spec,
        "owner_ref": d.owner_ref,
        "system_ref": d.system_ref,
        "tag_text": d.tag_text[:2000],
        "search_text": d.search_text,
        "source": item.source[:1000],
        "orphaned": False,
        "fingerprint": item.fingerprint,
        "updated_at": now,
        "ref_key": d.ref_key,
    }


def _check_may_write(actor, parsed: dict[str, _Parsed], existing: dict, result: ImportResult) -> dict[str, _Parsed]:
    """Non-admins may only write entities their teams own, and only keep them with their teams."""
    if actor is None or is_platform_admin(actor):
        return parsed
    team_refs = permissions.team_refs_of(actor)
    allowed: dict[str, _Parsed] = {}
    for key, item in parsed.items():
        if item.descriptor is None:  # unchanged: nothing is written
            allowed[key] = item
            continue
        current_owner = existing[key][3] if key in existing else None
        owner = item.descriptor.owner_ref
        if owner and owner in team_refs and (current_owner is None or current_owner in team_refs):
            allowed[key] = item
        else:
            result.problems.append(
                Problem(
                    file=item.source,
                    document=None,
                    field="spec.owner",
                    reason="you may only import entities that one of your teams owns; ask a Platform Admin",
                    entity=key,
                )
            )
    return allowed


def _write(
    parsed: dict[str, _Parsed],
    result: ImportResult,
    *,
    actor,
    scope: list[tuple[str, str]],
    failed_sources: set[str],
    existing: dict[str, tuple] | None = None,
    audit: bool = True,
    membership_actor=None,
) -> None:
    """Upsert the parsed entities, replace their relations, resolve references, orphan what vanished."""
    now = timezone.now()
    seen = dict(parsed)
    if existing is None:
        existing = _fetch_existing(parsed)
    parsed = _check_may_write(actor, parsed, existing, result)

    new_items: list[_Parsed] = []
    changed: list[Entity] = []
    changed_items: list[tuple[int, _Parsed]] = []
    for key, item in parsed.items():
        if item.descriptor is None:
            result.unchanged += 1
            continue
        if key in existing:
            entity_id, fingerprint, orphaned, _owner = existing[key]
            if fingerprint == item.fingerprint and not orphaned:
                result.unchanged += 1
                continue
            changed.append(Entity(pk=entity_id, **_row(item, now)))
            changed_items.append((entity_id, item))
            result.updated.append(key)
        else:
            new_items.append(item)
            result.created.append(key)

    membership = _MembershipDiff.before_write(new_items, changed_items)

    known: dict[str, int] = {}
    if new_items:
        known.update(_insert_entities(new_items, now))
    if changed:
        Entity.objects.bulk_update(changed, ENTITY_FIELDS, batch_size=500)
        for chunk in _chunks([e.pk for e in changed]):
            Relation.objects.filter(origin_id__in=chunk).delete()
        known.update((e.ref_key, e.pk) for e in changed)

    written_ids = list(known.values())
    if known:
        wanted = set()
        for key in known:
            for source_ref, _type, target_ref in parsed[key].descriptor.relations:
                wanted.add(source_ref)
                wanted.add(target_ref)
        written = dict(known)
        known.update(_ids_by_ref(wanted - known.keys()))
        rows = (  # a generator: 140,000 tuples need not exist at once
            (origin_id, source_ref, known.get(source_ref), type_, target_ref, known.get(target_ref))
            for key, origin_id in written.items()
            for source_ref, type_, target_ref in parsed[key].descriptor.relations
        )
        _insert_relations(rows)
    if new_items:
        _resolve_relations()

    result.orphaned = _orphan(scope, seen, failed_sources, now)
    if result.created or result.updated or result.orphaned:
        catalog_changed()
        _rescore_on_commit(written_ids)
    if audit and (result.created or result.updated or result.orphaned):
        audit_record(
            actor=actor,
            action="catalog.import",
            changes={
                "created": len(result.created),
                "updated": len(result.updated),
                "orphaned": len(result.orphaned),
                "files": result.files[:20],
            },
        )
    membership.record(actor=membership_actor if membership_actor is not None else actor, files=result.files)


class _MembershipDiff:
    """Who joined or left which catalog Group (team) through a write, for the audit log.

    Membership is a ``hasMember`` relation (group -> user), declared by the Group
    (``spec.members``) or by the User (``spec.memberOf``). Only entities of those two
    kinds are looked at, so an import of components costs nothing here. A pair that
    another, unwritten entity still declares (or declared already) did not change.
    """

    AUDIT_LIMIT = 500

    def __init__(self, before: set, after: set, declared_elsewhere: set):
        self.added = sorted((after - before) - declared_elsewhere)
        self.removed = sorted((before - after) - declared_elsewhere)

    @classmethod
    def before_write(cls, new_items: list[_Parsed], changed: list[tuple[int, _Parsed]]) -> _MembershipDiff:
        """Call before the changed entities' relations are replaced."""
        people = (Kind.GROUP, Kind.USER)
        changed = [(pk, item) for pk, item in changed if item.descriptor.kind in people]
        after = {
            (source_ref, target_ref)
            for item in [*(i for i in new_items if i.descriptor.kind in people), *(item for _pk, item in changed)]
            for source_ref, type_, target_ref in item.descriptor.relations
            if type_ == "hasMember"
        }
        return cls.compute(after, [pk for pk, _item in changed])

    @classmethod
    def before_delete(cls, entities) -> _MembershipDiff:
        """Call before the entities (and the relations they declared) are deleted."""
        return cls.compute(set(), [pk for pk, kind in entities if kind in (Kind.GROUP, Kind.USER)])

    @classmethod
    def compute(cls, after: set, written_ids: list[int]) -> _MembershipDiff:
        """``after``: the pairs the written entities declare now; ``written_ids``: those that existed."""
        before: set = set()
        for chunk in _chunks(written_ids):
            before.update(
                Relation.objects.filter(type="hasMember", origin_id__in=chunk).values_list("source_ref", "target_ref")
            )
        candidates = after ^ before
        elsewhere: set = set()
        if candidates:
            skip = set(written_ids)
            groups = sorted({group for group, _user in candidates})
            for chunk in _chunks(groups):
                rows = Relation.objects.filter(type="hasMember", source_ref__in=chunk).values_list(
                    "source_ref", "target_ref", "origin_id"
                )
                elsewhere.update((g, u) for g, u, origin in rows if origin not in skip and (g, u) in candidates)
        return cls(before, after, elsewhere)

    def record(self, *, actor, files: list[str]) -> None:
        if not (self.added or self.removed):
            return
        audit_record(
            actor=actor,
            action="catalog.membership.change",
            changes={
                "added": [{"group": g, "user": u} for g, u in self.added[: self.AUDIT_LIMIT]],
                "removed": [{"group": g, "user": u} for g, u in self.removed[: self.AUDIT_LIMIT]],
                "added_count": len(self.added),
                "removed_count": len(self.removed),
                "files": files[:20],
            },
        )


def catalog_changed() -> None:
    """Give the catalog a new version (call inside the change's transaction): cached counts are then stale.

    A random stamp rather than +1: a rolled-back change must never leave a version number that a later
    change could reuse with other data.
    """
    stamp = secrets.randbits(62)
    if not CatalogVersion.objects.filter(pk=1).update(version=stamp):
        CatalogVersion.objects.update_or_create(pk=1, defaults={"version": stamp})


def _insert_entities(items: list[_Parsed], now) -> dict[str, int]:
    """Insert new entities; returns their ids by ref. Rows are built one at a time, to keep memory flat."""
    if connection.vendor != "postgresql" or len(items) <= 1000:
        ids: dict[str, int] = {}
        for batch in _chunks(items):
            objs = Entity.objects.bulk_create([Entity(**_row(item, now), created_at=now) for item in batch])
            if objs and objs[0].pk is None:  # a database that does not return ids
                ids.update(_ids_by_ref(obj.ref_key for obj in objs))
            else:
                ids.update((obj.ref_key, obj.pk) for obj in objs)
        return ids
    # COPY is several times faster than INSERT; it needs the ids up front, from the table's sequence.
    table = Entity._meta.db_table
    sample = {**_row(items[0], now), "created_at": now}
    fields = [f for f in Entity._meta.concrete_fields if f.attname in sample or f.primary_key]
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    names = [f.attname for f in fields]
    ids = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(items)]
        )
        for item, (pk,) in zip(items, cursor.fetchall(), strict=True):
            ids[item.descriptor.ref_key] = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 - model names
            for item in items:
                row = {**_row(item, now), "created_at": now, "id": ids[item.descriptor.ref_key]}
                copy.write_row([json.dumps(row[n]) if n in json_fields else row.get(n) for n in names])
    return ids


def _copy_line(row: tuple) -> str:
    return "\t".join(r"\N" if value is None else str(value) for value in row) + "\n"


def _insert_relations(rows: Iterable[tuple]) -> None:
    """Rows are (origin_id, source_ref, source_id, type, target_ref, target_id)."""
    batches = _batches(rows, 20000)
    if connection.vendor == "postgresql":
        table = Relation._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {table} (origin_id, source_ref, source_id, type, target_ref, target_id) FROM STDIN"  # noqa: S608
            ) as copy,
        ):
            # Refs are validated names (no tab, newline or backslash), so the text format needs no escaping.
            for batch in batches:
                copy.write("".join(_copy_line(row) for row in batch))
        return
    for batch in batches:
        Relation.objects.bulk_create(
            [
                Relation(origin_id=o, source_ref=sr, source_id=si, type=t, target_ref=tr, target_id=ti)
                for o, sr, si, t, tr, ti in batch
            ],
            batch_size=CHUNK,
        )


def _batches(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _resolve_relations() -> None:
    """Fill the foreign keys of relations whose entity now exists (unresolved -> resolved)."""
    by_target = Entity.objects.filter(ref_key=OuterRef("target_ref"))
    Relation.objects.filter(target__isnull=True).filter(Exists(by_target)).update(
        target_id=Subquery(by_target.values("id")[:1])
    )
    by_source = Entity.objects.filter(ref_key=OuterRef("source_ref"))
    Relation.objects.filter(source__isnull=True).filter(Exists(by_source)).update(
        source_id=Subquery(by_source.values("id")[:1])
    )


def _in_scope(source: str, scope: list[tuple[str, str]]) -> bool:
    return any(source == key if mode == "exact" else source.startswith(key) for mode, key in scope)


def _orphan(scope: list[tuple[str, str]], seen: dict, failed_sources: set[str], now) -> list[str]:
    """Entities of the imported sources that the import did not see are marked orphaned."""
    if not scope:
        return []
    in_scope = Q()
    for mode, key in scope:
        in_scope |= Q(source=key) if mode == "exact" else Q(source__startswith=key)
    seen_in_scope = sum(1 for item in seen.values() if _in_scope(item.source, scope))
    if Entity.objects.filter(in_scope, orphaned=False).count() == seen_in_scope:
        return []  # the usual case: every entity of these sources was seen again
    candidates: list[tuple[int, str, str]] = []
    for mode, key in scope:
        qs = Entity.objects.filter(orphaned=False)
        qs = qs.filter(source=key) if mode == "exact" else qs.filter(source__startswith=key)
        candidates.extend(qs.values_list("id", "ref_key", "source"))
    # A file that failed to parse keeps its entities as they were: we cannot tell what vanished.
    gone = [(pk, ref) for pk, ref, source in candidates if ref not in seen and source not in failed_sources]
    ids = [pk for pk, _ in gone]
    for chunk in _chunks(ids):
        Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
    return sorted(ref for _, ref in gone)


def _import(sources: list[_Source], *, actor, scope, follow_locations: bool, roots) -> ImportResult:
    result = ImportResult()
    parsed, failed, existing = _parse_sources(sources, result, follow_locations=follow_locations, roots=roots)
    # Location targets found on the way are part of the orphaning scope too.
    scope = list(scope) + [("exact", key) for key in {p.source for p in parsed.values()} if key.startswith("file:")]
    with transaction.atomic():
        _write(parsed, result, actor=actor, scope=scope, failed_sources=failed, existing=existing)
    return result


def catalog_import_text(*, text: str | bytes, name: str = "pasted", actor=None) -> ImportResult:
    """Import pasted or uploaded multi-document YAML; entities missing from a re-upload of ``name`` orphan."""
    if isinstance(text, bytes):
        if len(text) > upload_limit():
            raise ServiceError(f"The upload is larger than the limit of {upload_limit() // (1024 * 1024)} MB.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError("The upload is not UTF-8 text.")
    if len(text.encode()) > upload_limit():
        raise ServiceError(f"The text is larger than the limit of {upload_limit() // (1024 * 1024)} MB.")
    name = (name or "pasted").strip()[:200] or "pasted"
    key = f"upload:{name}"
    source = _Source(key=key, label=name, text=text)
    return _import([source], actor=actor, scope=[("exact", key)], follow_locations=True, roots=None)


def catalog_import_paths(*, paths: list[str], actor=None, restrict_to_roots: bool = True) -> ImportResult:
    """Import files and folders (every catalog-info.yaml below a folder), following Location targets.

    From the web and the API, paths must lie under ``CATALOG_IMPORT_ROOTS``; the
    management command (run by an operator on the server) may read any path.
    """
    if actor is not None and not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins may import from the server's folders.")
    roots = import_roots() if restrict_to_roots else None
    result = ImportResult()
    files, scope = _collect_files(paths, roots, result)
    # The web and the API keep to the upload limit per file; an operator's command reads any size.
    max_bytes = upload_limit() if restrict_to_roots else None
    sources = [s for path, root in files if (s := _read_file(path, root, result, max_bytes)) is not None]
    imported = _import(sources, actor=actor, scope=scope, follow_locations=True, roots=roots)
    imported.problems = result.problems + imported.problems
    return imported


# --- single entities (forms and API) ------------------------------------------------


def entity_save(*, actor, document: dict, entity: Entity | None = None) -> Entity:
    """Create or replace one entity from a descriptor document; raises ServiceError with the reason."""
    try:
        descriptor = validate(document, require_api_version=False)
    except Invalid as exc:
        raise ServiceError(f"{exc.field}: {exc.reason}" if exc.field else exc.reason)
    key = descriptor.ref_key
    with transaction.atomic():
        current = Entity.objects.select_for_update().filter(ref_key=key).first()
        if entity is not None:
            if current is not None and current.pk != entity.pk:
                raise ServiceError(f"{key} exists already.")
            if entity.ref_key != key:
                raise ServiceError("The kind, namespace and name of an entity cannot change; create a new one.")
            current = entity
        elif current is not None:
            raise ServiceError(f"{key} exists already; edit it instead.")
        if current is not None and not permissions.can_edit_entity(actor, current):
            raise PermissionDenied("Only the owning team's members and Platform Admins may edit this entity.")
        if not is_platform_admin(actor):
            if descriptor.kind in (Kind.GROUP, Kind.USER, Kind.LOCATION):
                if current is None:
                    raise PermissionDenied(f"Only Platform Admins may create {descriptor.kind} entities.")
            elif descriptor.owner_ref not in permissions.team_refs_of(actor):
                raise PermissionDenied("The owner must be one of your teams.")
            if descriptor.kind == Kind.USER and _joins_groups(current, descriptor):
                # spec.memberOf makes the linked account a member of those Groups: the person a User is
                # editable by must not be able to join any team they like.
                raise PermissionDenied("Only Platform Admins may add a User to a Group (spec.memberOf).")
        source = current.source if current is not None else ""
        result = ImportResult()
        _write(
            {key: _Parsed(descriptor, source, _fingerprint(source, document, None))},
            result,
            actor=None,
            scope=[],
            failed_sources=set(),
            audit=False,  # the entity's own audit event follows
            membership_actor=actor,
        )
        saved = Entity.objects.get(ref_key=key)
        audit_record(actor=actor, action="catalog.entity.update" if current else "catalog.entity.create", obj=saved)
    return saved


def _joins_groups(current: Entity | None, descriptor) -> bool:
    """Does the User descriptor declare a Group membership that ``current`` (the stored User) does not?"""
    declared = {source for source, type_, _target in descriptor.relations if type_ == "hasMember"}
    if current is None or not declared:
        return bool(declared)
    before = set(Relation.objects.filter(origin=current, type="hasMember").values_list("source_ref", flat=True))
    return bool(declared - before)


def entity_delete(*, actor, entity: Entity) -> None:
    """Owners and Platform Admins delete an entity; its relations to others become unresolved."""
    if not permissions.can_delete_entity(actor, entity):
        raise PermissionDenied("Only the owning team's members and Platform Admins may delete this entity.")
    with transaction.atomic():
        audit_record(actor=actor, action="catalog.entity.delete", obj=entity, changes={"ref": entity.ref})
        if entity.kind == Kind.USER and entity.portal_user_id is not None:
            _audit_link(actor, "catalog.user.unlink", entity, _account(entity.portal_user_id), None)
        membership = _MembershipDiff.before_delete([(entity.pk, entity.kind)])
        entity.delete()
        catalog_changed()
        membership.record(actor=actor, files=[])


def orphans_delete(*, actor) -> int:
    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins may delete orphaned entities.")
    with transaction.atomic():
        rows = list(Entity.objects.filter(orphaned=True).values_list("ref_key", "pk", "kind"))
        refs = [ref for ref, _pk, _kind in rows]
        for entity in Entity.objects.filter(orphaned=True, kind=Kind.USER, portal_user__isnull=False):
            _audit_link(actor, "catalog.user.unlink", entity, _account(entity.portal_user_id), None)
        membership = _MembershipDiff.before_delete([(pk, kind) for _ref, pk, kind in rows])
        Entity.objects.filter(orphaned=True).delete()
        catalog_changed()
        if refs:
            audit_record(actor=actor, action="catalog.orphans.delete", changes={"count": len(refs), "refs": refs[:50]})
        membership.record(actor=actor, files=[])
    return len(refs)


def relation_add(*, source: Entity, type: str, target_ref: str) -> Relation:
    """Add one relation by hand (kept for callers outside imports); the target may not exist yet."""
    target = selectors.entity_by_ref(target_ref)
    relation, _ = Relation.objects.update_or_create(
        origin=source,
        source_ref=source.ref_key or entity_ref(source.kind, source.namespace, source.name),
        type=type,
        target_ref=target_ref,
        defaults={"target": target, "source": source},
    )
    return relation


def _teams_of_person(entity: Entity) -> list[str]:
    """The refs of the catalog Groups a User entity belongs to (what linking an account grants)."""
    return sorted(
        set(Relation.objects.filter(type="hasMember", target_id=entity.pk).values_list("source_ref", flat=True))
    )


def _account(user_id):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None


def _audit_link(actor, action: str, entity: Entity, before, after) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=entity,
        changes={
            "portal_user": {
                "before": before.get_username() if before is not None else None,
                "after": after.get_username() if after is not None else None,
            },
            "teams": _teams_of_person(entity),
        },
    )


def portal_user_link(*, entity: Entity, user, actor=None) -> Entity:
    """Link a catalog User to a portal account, so the account belongs to the User's groups.

    Team membership follows the link, so each change is written to the audit log: the
    account's previous User entity (if any) is unlinked, and a User entity that was linked
    to another account is relinked. The actor defaults to the user of the current request.
    """
    from portal.request_context import current_user

    if entity.kind != Kind.USER:
        raise ServiceError("Only User entities can be linked to a portal account.")
    actor = actor if actor is not None else current_user()
    with transaction.atomic():
        before_id = Entity.objects.select_for_update().filter(pk=entity.pk).values_list("portal_user", flat=True).get()
        for previous in Entity.objects.select_for_update().filter(portal_user=user).exclude(pk=entity.pk):
            Entity.objects.filter(pk=previous.pk).update(portal_user=None)
            _audit_link(actor, "catalog.user.unlink", previous, user, None)
        if before_id != user.pk:
            before = _account(before_id)
            entity.portal_user = user
            entity.save(update_fields=["portal_user"])
            _audit_link(actor, "catalog.user.link", entity, before, user)
    if hasattr(user, "_bridge_team_refs"):
        del user._bridge_team_refs  # the cached teams of this request's user changed
    return entity


def portal_user_unlink(*, entity: Entity, actor=None) -> Entity:
    """Unlink a catalog User from its portal account: the account leaves the User's groups."""
    from portal.request_context import current_user

    actor = actor if actor is not None else current_user()
    with transaction.atomic():
        before_id = Entity.objects.select_for_update().filter(pk=entity.pk).values_list("portal_user", flat=True).get()
        entity.portal_user = None
        if before_id is not None:
            entity.save(update_fields=["portal_user"])
            _audit_link(actor, "catalog.user.unlink", entity, _account(before_id), None)
    return entity


def catalog_user_claim(*, actor, entity: Entity) -> Entity:
    """ "This is me": a signed-in person links their account to the catalog User with their email address."""
    if not permissions.can_claim_catalog_user(actor, entity):
        raise PermissionDenied(
            "You can only claim a catalog User that is not linked yet and whose profile email is your account's "
            "email. Ask a Platform Admin to link you otherwise."
        )
    return portal_user_link(entity=entity, user=actor, actor=actor)


def catalog_user_assign(*, actor, entity: Entity, username: str) -> Entity:
    """A Platform Admin links any portal account to a catalog User."""
    if not permissions.can_link_portal_accounts(actor):
        raise PermissionDenied("Only Platform Admins can link portal accounts to catalog Users.")
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.filter(username__iexact=(username or "").strip(), is_active=True).first()
    if account is None:
        raise ServiceError(f"There is no active portal account named {username.strip()!r}.")
    return portal_user_link(entity=entity, user=account, actor=actor)


def catalog_user_unlink(*, actor, entity: Entity) -> Entity:
    """The linked person or a Platform Admin removes the link; the account then leaves the User's groups."""
    if not permissions.can_unlink_catalog_user(actor, entity):
        raise PermissionDenied("Only the linked person and Platform Admins can unlink this catalog User.")
    return portal_user_unlink(entity=entity, actor=actor)


def catalog_user_link_by_email(*, user) -> Entity | None:
    """At sign-in: an account without a catalog User takes the one unlinked User whose profile email is its own."""
    if not user.email or Entity.objects.filter(portal_user=user).exists():
        return None
    candidates = selectors.claimable_catalog_users(user)
    if len(candidates) != 1:
        return None  # none, or ambiguous: the person chooses on their profile page
    return portal_user_link(entity=candidates[0], user=user, actor=user)


def demo_catalog_ensure(*, users: dict) -> int:
    """Import the demo catalog (idempotent) and link the demo accounts; returns how many entities were created."""
    from catalog.demo import demo_files

    result = ImportResult()
    files = demo_files(extra_users=sorted(users))
    sources = [_Source(key=f"demo:{name}", label=f"demo/{name}", text=text) for name, text in files.items()]
    with transaction.atomic():
        parsed, failed, _existing = _parse_sources(sources, result, follow_locations=False, roots=None)
        if result.problems:
            raise ServiceError("; ".join(str(p) for p in result.problems))
        _write(parsed, result, actor=None, scope=[("prefix", "demo:")], failed_sources=failed)
        for username, user in users.items():
            person = Entity.objects.filter(ref_key=entity_ref(Kind.USER, "default", username)).first()
            if person is not None:
                portal_user_link(entity=person, user=user)
    return len(result.created)


# --- scorecards ---------------------------------------------------------------------


def _applicable(scorecard: Scorecard):
    qs = Entity.objects.all()
    if scorecard.applies_to_kind:
        qs = qs.filter(kind=scorecard.applies_to_kind)
    if scorecard.applies_to_type:
        qs = qs.filter(spec_type__iexact=scorecard.applies_to_type)
    if scorecard.applies_to_tag:
        qs = qs.filter(tag_text__contains=f",{scorecard.applies_to_tag.lower()},")
    return qs


def _score(scorecard: Scorecard, entities: list[Entity], now) -> list[ScorecardResult]:
    from catalog import scorecards as checks

    sources: dict[str, dict | None] = {}
    for rule in scorecard.rules:
        check = checks.CHECKS.get(rule["check"])
        if check and check.source and check.source not in sources:
            provider = checks.data_source(check.source)
            sources[check.source] = provider(entities) if provider else None
    results = []
    for entity in entities:
        outcomes = []
        for rule in scorecard.rules:
            check = checks.CHECKS.get(rule["check"])
            values = sources.get(check.source) if check and check.source else {}
            status, message = checks.evaluate(rule["check"], rule.get("param", ""), entity, values, now)
            outcomes.append(
                {
                    **rule,
                    "title": check.title if check else rule["check"],
                    "status": status,
                    "message": message,
                    "fix": check.fix if check else "",
                }
            )
        # The highest level that has rules, whose rules and those of the levels below fail none
        # ("no data" never fails).
        level = ""
        defined = [lv for lv in LEVEL_ORDER if any(o["level"] == lv for o in outcomes)]
        for candidate in defined:
            below = LEVEL_ORDER[: LEVEL_ORDER.index(candidate) + 1]
            if any(o["status"] == "fail" and o["level"] in below for o in outcomes):
                break
            level = candidate
        results.append(
            ScorecardResult(scorecard=scorecard, entity_id=entity.pk, level=level, outcomes=outcomes, computed_at=now)
        )
    return results


def scorecards_evaluate(*, entity_ids: list[int] | None = None, scorecard_ids: list[int] | None = None) -> int:
    """Recompute scorecard results (all entities, or the given ones); returns how many were written."""
    now = timezone.now()
    written = 0
    scorecards = Scorecard.objects.all()
    if scorecard_ids is not None:
        scorecards = scorecards.filter(pk__in=scorecard_ids)
    for scorecard in scorecards:
        applicable = _applicable(scorecard)
        with transaction.atomic():
            stored = ScorecardResult.objects.filter(scorecard=scorecard)
            if entity_ids is not None:
                stored = stored.filter(entity_id__in=entity_ids)
            previous = dict(stored.values_list("entity_id", "level"))
            if entity_ids is None:
                ScorecardResult.objects.filter(scorecard=scorecard).delete()
                ids = list(applicable.values_list("id", flat=True))
            else:
                ScorecardResult.objects.filter(scorecard=scorecard, entity_id__in=entity_ids).delete()
                ids = list(applicable.filter(pk__in=entity_ids).values_list("id", flat=True))
            for chunk in _chunks(ids):
                entities = list(
                    Entity.objects.filter(pk__in=chunk).only(
                        "id", "kind", "description", "lifecycle", "owner_ref", "links", "spec"
                    )
                )
                results = _score(scorecard, entities, now)
                ScorecardResult.objects.bulk_create(results, batch_size=CHUNK)
                written += len(results)
                by_id = {e.pk: e for e in entities}
                for result in results:
                    if result.entity_id in previous and _level_rank(result.level) < _level_rank(
                        previous[result.entity_id]
                    ):
                        _notify_level_drop(scorecard, by_id[result.entity_id], previous[result.entity_id], result)
    return written


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) + 1 if level in LEVEL_ORDER else 0


def _notify_level_drop(scorecard: Scorecard, entity: Entity, before: str, result: ScorecardResult) -> None:
    from portal.models import NotificationEvent
    from portal.services import notify

    failing = ", ".join(o["title"] for o in result.failing[:5]) or "see the entity page"
    notify(
        users=selectors.owner_team_members(entity),
        event=NotificationEvent.SCORECARD_DROPPED,
        title=f"{entity.name} dropped from {before.title()} to {(result.level or 'no level').title()} "
        f"on {scorecard.name}",
        body=f"Failing: {failing}.",
        url=entity.get_absolute_url(),
        team_refs=[entity.owner_ref] if entity.owner_ref else [],
    )


def _rescore_on_commit(entity_ids: list[int]) -> None:
    """After a change, recompute the scores of the changed entities in the worker (if any scorecard exists)."""
    if not entity_ids or not Scorecard.objects.exists():
        return
    from catalog.tasks import evaluate_scorecards

    ids = None if len(entity_ids) > 5000 else sorted(entity_ids)
    transaction.on_commit(lambda: evaluate_scorecards.delay(entity_ids=ids))


def scorecard_save(
    *,
    actor,
    name: str,
    rules_text: str,
    description: str = "",
    applies_to_kind: str = "",
    applies_to_type: str = "",
    applies_to_tag: str = "",
    scorecard: Scorecard | None = None,
) -> Scorecard:
    """Platform Admins create or change a scorecard; its results are recomputed at once."""
    from catalog import scorecards as checks

    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins define scorecards.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the scorecard a name.")
    try:
        rules = checks.parse_rules(rules_text)
    except ValueError as exc:
        raise ServiceError(str(exc))
    with transaction.atomic():
        if Scorecard.objects.filter(name__iexact=name).exclude(pk=scorecard.pk if scorecard else None).exists():
            raise ServiceError(f"A scorecard named '{name}' exists already.")
        scorecard = scorecard or Scorecard()
        scorecard.name = name
        scorecard.description = description
        scorecard.applies_to_kind = applies_to_kind
        scorecard.applies_to_type = applies_to_type.strip()
        scorecard.applies_to_tag = applies_to_tag.strip().lower()
        scorecard.rules = rules
        scorecard.save()
        audit_record(actor=actor, action="catalog.scorecard.save", obj=scorecard, changes={"rules": rules})
    scorecards_evaluate(scorecard_ids=[scorecard.pk])
    return scorecard


def scorecard_delete(*, actor, scorecard: Scorecard) -> None:
    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins delete scorecards.")
    with transaction.atomic():
        audit_record(actor=actor, action="catalog.scorecard.delete", obj=scorecard)
        scorecard.delete()
