"""Import is one pipeline whatever the input (pasted text, an upload, files and
directories, the API, the entity form): read -> parse -> substitute ``$text``
etc. -> validate -> write in bulk. Writing compares a fingerprint of each
descriptor with the stored one, so an unchanged entity costs no write at all.
"""

from __future__ import annotations

from collections import deque

from django.db import transaction

from catalog import permissions
from catalog import sources as source_keys
from catalog.descriptors import (
    DOCUMENT_BATCH,
    UNCHANGED,
    Invalid,
    Problem,
    format_ref,
    iter_documents,
    parse_ref,
    validate,
)
from catalog.descriptors import ref_key as make_ref_key
from catalog.models import Entity, Kind
from catalog.services.common import (
    ImportResult,
    _Batch,
    _Claim,
    _fingerprint,
    _Parsed,
    _Source,
    entity_ref,
    import_roots,
    upload_limit,
)
from catalog.services.locations import _location_targets
from catalog.services.orphans import _in_scope
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


def _parse_sources(sources: list[_Source], result: ImportResult, *, follow_locations: bool, roots) -> _Batch:
    """Parse every source (following Locations) into what ``_write`` takes.

    A document whose fingerprint equals the stored one is not validated again: it is unchanged.
    The stored fingerprints of the sources come first, in one query, so a document whose raw text
    hashes to one of them is not even parsed (re-importing 20,000 unchanged entities is a matter of
    splitting the files and hashing the pieces). Documents go
    through in batches, so the raw YAML of a large file never sits in memory all at once.

    An invalid document is reported and its entity (if its name can be told) counts as still
    listed, so it is kept as it was; a syntax error stops the reading of its file, whose entities
    are then all kept. Two sources producing the same entity: the one that owns it wins, else
    the first; the other's copy is a conflict.
    """
    batch = _Batch(parsed={}, existing={})
    seen_files: set[str] = set()
    looked_up: set[str] = set()
    parsed = batch.parsed
    existing = batch.existing
    queue = deque(sources)
    items: list[tuple] = []  # documents waiting to be looked up; batches span sources
    # What these sources wrote last time, in one query: an unchanged document is found there, so a
    # re-import that changes nothing asks nothing more. Other refs are looked up a batch at a time.
    existing.update(_fetch_existing(sources=[source.key for source in sources]))
    looked_up.update(existing)
    # Their fingerprints: a document whose raw text hashes to one of them is not even parsed.
    # (Locations are, since their targets are followed.)
    known = {
        stored.fingerprint: ref
        for ref, stored in existing.items()
        if not stored.orphaned and not ref.startswith("location:")
    }

    def problem(source: _Source, index: int, doc, exc: Invalid) -> None:
        guess = _guess_ref(doc)
        if guess:
            batch.listed.add((source.key, guess))
        result.problems.append(
            Problem(file=source.label, document=index, field=exc.field, reason=exc.reason, entity=_name_of(doc))
        )

    def twice(key: str, first: _Parsed, later: _Parsed) -> None:
        """Two copies of ``key``: keep one in ``parsed``, report the other."""
        stored = existing.get(key)
        owner = stored.source if stored is not None else None
        if owner is not None and later.source == owner and first.source != owner:
            parsed[key], first, later = later, later, first  # the owner's copy wins wherever it comes
        elif later.source == first.source and later.document < first.document:
            parsed[key], first, later = later, later, first  # an unchanged copy, taken before it came
        if later.source == first.source:
            result.problems.append(
                Problem(
                    file=later.label,
                    document=later.document,
                    field="metadata.name",
                    reason=f"{key} appears twice in this file (first in document {first.document}); "
                    "this later one was skipped",
                    entity=key,
                )
            )
        else:
            batch.claims.append(_Claim(key=key, item=later, owner=first.source))

    def take(items: list[tuple]) -> None:
        guesses = {guess for _source, _index, _doc, guess, _fp, _loc in items if guess} - looked_up
        existing.update(_fetch_existing(guesses))
        looked_up.update(guesses)
        for source, index, doc, guess, fingerprint, location in items:
            stored = existing.get(guess) if guess else None
            if stored is not None and stored.fingerprint == fingerprint and not stored.orphaned and guess not in parsed:
                # Unchanged: nothing to validate or write.
                parsed[guess] = _Parsed(None, source.key, fingerprint, source.label, index)
                continue
            try:
                descriptor = location or validate(doc)
            except Invalid as exc:
                problem(source, index, doc, exc)
                continue
            key = descriptor.ref_key
            item = _Parsed(descriptor, source.key, fingerprint, source.label, index)
            if key in parsed:
                twice(key, parsed[key], item)
                continue
            parsed[key] = item

    while queue:
        source = queue.popleft()
        if source.key in seen_files:
            continue
        seen_files.add(source.key)
        batch.read.append(source.key)
        result.files.append(source.label)
        needs_substitution = "$text" in source.text or "$json" in source.text or "$yaml" in source.text
        problems: list[Problem] = []

        def unchanged(text: str, key: str = source.key) -> bool:
            return _fingerprint(key, None, text) in known

        skip = None if needs_substitution or not known else unchanged
        for index, doc, text in iter_documents(source.text, file=source.label, problems=problems, skip=skip):
            if doc is UNCHANGED:  # its text hashes to what this source wrote last time: nothing to do
                fingerprint = _fingerprint(source.key, None, text)
                item = _Parsed(None, source.key, fingerprint, source.label, index)
                ref = known[fingerprint]
                if ref in parsed:
                    twice(ref, parsed[ref], item)
                else:
                    parsed[ref] = item
                continue
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
            items.append((source, index, doc, _guess_ref(doc), _fingerprint(source.key, doc, text), location))
            if len(items) >= DOCUMENT_BATCH:
                take(items)
                items = []
        if problems:
            batch.failed.add(source.key)
            result.problems.extend(problems)
    take(items)  # batches span sources: 1,000 small files cost a few lookups, not 1,000
    missing = [key for key in parsed if key not in looked_up]  # refs that validation spelled otherwise
    existing.update(_fetch_existing(missing))
    return batch


def _name_of(doc) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        name = doc["metadata"].get("name")
        kind = doc.get("kind")
        if isinstance(name, str) and isinstance(kind, str):
            return f"{kind.lower()}:{name}"
    return ""


def _import(sources: list[_Source], *, actor, scope, follow_locations: bool, roots, team_ref: str = "") -> ImportResult:
    result = ImportResult()
    batch = _parse_sources(sources, result, follow_locations=follow_locations, roots=roots)
    # Location targets found on the way are part of the orphaning scope too.
    found = [key for key in batch.read if key.startswith("file:") and not _in_scope(key, scope)]
    scope = list(scope) + [("exact", key) for key in found]
    with transaction.atomic():
        _write(batch, result, actor=actor, scope=scope, team_ref=team_ref)
    return result


def upload_source(*, actor, team: str | None = None, name: str = "pasted") -> tuple[str, str]:
    """The source key of an upload named ``name`` by ``actor``, and the team it is for ("" if none).

    Uploads are named per team, so two teams' "pasted" are two sources and neither can orphan
    the other's entities. A team member uploads for one of their teams (``team``, or their only
    one); a Platform Admin uploads as themselves unless they name a team; code and the operator's
    command (no actor) upload as the system.
    """
    if actor is None:
        return source_keys.upload_key(scope=source_keys.SYSTEM, owner="", name=name), ""
    team_ref = ""
    if team:
        try:
            team_ref = parse_ref(team.strip(), default_kind="group", default_namespace="default")
        except ValueError as exc:
            raise ServiceError(f"The team {team!r} is not a valid reference: {exc}.")
        if not team_ref.startswith("group:"):
            raise ServiceError(f"An upload is for a team (a Group), not for {team_ref}.")
    admin = is_platform_admin(actor)
    teams = permissions.team_refs_of(actor)
    if team_ref and not admin and team_ref not in teams:
        raise PermissionDenied(f"You are not a member of {format_ref(team_ref)}, so you cannot upload for it.")
    if not team_ref and not admin:
        if not teams:
            raise PermissionDenied("You are in no team yet, so you cannot import.")
        if len(teams) > 1:
            names = ", ".join(sorted(format_ref(ref) for ref in teams))
            raise ServiceError(f"Say which of your teams this upload is for ({names}).")
        (team_ref,) = teams
    if team_ref:
        return source_keys.upload_key(scope=source_keys.TEAM, owner=team_ref.split(":", 1)[1], name=name), team_ref
    return source_keys.upload_key(scope=source_keys.USER, owner=actor.get_username(), name=name), ""


def catalog_import_text(
    *, text: str | bytes, name: str = "pasted", actor=None, team: str | None = None
) -> ImportResult:
    """Import pasted or uploaded multi-document YAML; entities missing from a re-upload of ``name`` orphan.

    The source is named per team (see ``upload_source``); a team member's upload may only hold
    entities that team owns.
    """
    if isinstance(text, bytes):
        if len(text) > upload_limit():
            raise ServiceError(f"The upload is larger than the limit of {upload_limit() // (1024 * 1024)} MB.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError("The upload is not UTF-8 text.")
    if len(text.encode()) > upload_limit():
        raise ServiceError(f"The text is larger than the limit of {upload_limit() // (1024 * 1024)} MB.")
    name = (name or "pasted").strip()[: source_keys.UPLOAD_NAME_MAX] or "pasted"
    key, team_ref = upload_source(actor=actor, team=team, name=name)
    source = _Source(key=key, label=name, text=text)
    restrict = team_ref if actor is not None and not is_platform_admin(actor) else ""
    return _import([source], actor=actor, scope=[("exact", key)], follow_locations=True, roots=None, team_ref=restrict)


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
        batch = _parse_sources(sources, result, follow_locations=False, roots=None)
        if result.problems:
            raise ServiceError("; ".join(str(p) for p in result.problems))
        _write(batch, result, actor=None, scope=[("prefix", "demo:")])
        for username, user in users.items():
            person = Entity.objects.filter(ref_key=entity_ref(Kind.USER, "default", username)).first()
            if person is not None:
                portal_user_link(entity=person, user=user)
    return len(result.created)
