"""Import is one pipeline whatever the input (pasted text, an upload, files and
directories, the API, the entity form): read -> parse -> substitute ``$text``
etc. -> validate -> write in bulk. Writing compares a fingerprint of each
descriptor with the stored one, so an unchanged entity costs no write at all.
"""

from __future__ import annotations

from collections import deque

from django.db import transaction

from catalog.descriptors import DOCUMENT_BATCH, Invalid, Problem, iter_documents, validate
from catalog.descriptors import ref_key as make_ref_key
from catalog.models import Entity, Kind
from catalog.services.common import ImportResult, _fingerprint, _Parsed, _Source, entity_ref, import_roots, upload_limit
from catalog.services.locations import _location_targets
from catalog.services.reading import _collect_files, _read_file, _substitute
from catalog.services.users import portal_user_link
from catalog.services.writing import _fetch_existing, _write
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError


def _guess_ref(doc) -> str | None:
    """The ref a document will have if it is valid (to find its stored fingerprint before validating it)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return None
    kind, metadata = doc.get("kind"), doc["metadata"]
    name, namespace = metadata.get("name"), metadata.get("namespace") or "default"
    if isinstance(kind, str) and isinstance(name, str) and isinstance(namespace, str):
        return make_ref_key(kind, namespace, name)
    return None


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
    batch: list[tuple] = []

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
        if problems:
            failed_sources.add(source.key)
            result.problems.extend(problems)
    take(batch)  # batches span sources: 1,000 small files cost a few lookups, not 1,000
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
