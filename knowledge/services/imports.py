"""mkdocs projects into a space: read, check, create or update pages and attach their files."""

from __future__ import annotations

import logging
import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from catalog.models import Entity
from knowledge import permissions
from knowledge.models import (
    Page,
    Space,
)
from knowledge.services.attachments import ATTACHMENT_TYPES, attachment_add, attachment_name
from knowledge.services.pages import _clean_title, _unique_slug, page_create, page_update, parse_tags
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    # Settings of mkdocs.yml left out (with the user's consent), as sentences.
    dropped: list[str] = field(default_factory=list)
    # What Bridge cannot render -> the pages that use it (none for an extension of mkdocs.yml).
    unrendered: dict[str, list[str]] = field(default_factory=dict)


def _import_pages(
    *, actor, space: Space, root: Path, drop_refused: bool = False, entity_ids: list[int] | None = None
) -> ImportResult:
    from knowledge.mkdocs_project import read_project, unrendered_features

    config, project_pages = read_project(root, drop_refused=drop_refused)
    with transaction.atomic():
        result = _import_project_pages(actor=actor, space=space, project_pages=project_pages, entity_ids=entity_ids)
        # Rendering a hundred pages takes longer than importing them: a worker renders them
        # after the import (and a reader who comes first renders the page they open).
        from knowledge.tasks import render_pages

        transaction.on_commit(lambda: render_pages.delay(space.pk), robust=True)
    result.dropped = [str(r) for r in config["_dropped"]]
    result.unrendered = unrendered_features(project_pages, extensions=config["markdown_extensions"])
    return result


def _import_project_pages(*, actor, space: Space, project_pages, entity_ids: list[int] | None = None) -> ImportResult:
    from knowledge.mkdocs_project import ProjectError

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    by_path: dict[str, Page] = {}
    existing = {p.source_path: p for p in Page.objects.filter(space=space).exclude(source_path="")}
    for item in project_pages:
        parent = by_path.get(item.parent) if item.parent else None
        try:
            page, outcome = _import_one_page(
                actor=actor, space=space, item=item, parent=parent, page=existing.get(item.path), entity_ids=entity_ids
            )
        except ProjectError:
            raise
        except ServiceError as exc:
            where = "a nav section" if item.path.startswith("_section/") else item.path
            raise ProjectError(f"{where}: {exc} Nothing was imported.") from exc
        counts[outcome] += 1
        by_path[item.path] = page
    audit_record(actor=actor, action="knowledge.space.import", obj=space, changes=counts)
    return ImportResult(counts["created"], counts["updated"], counts["unchanged"])


def _import_one_page(
    *, actor, space: Space, item, parent: Page | None, page: Page | None, entity_ids: list[int] | None = None
) -> tuple[Page, str]:
    from knowledge.rendering import page_meta

    files = _attachable_files(item)
    tags = parse_tags(page_meta(item.body).get("tags") or [])
    created = page is None
    if created:
        slug = _unique_slug(space, _clean_title(item.title))
        page = page_create(
            actor=actor,
            space=space,
            title=item.title,
            body=_body_showing_attachments(space, slug, item.body, files),
            parent=parent,
            source_path=item.path,
            position=item.position,
            message="Imported from mkdocs",
            tags=tags,
            entity_ids=entity_ids,
            check_permission=False,
            render_now=False,
        )
    _attach_project_files(actor=actor, page=page, item=item, files=files)
    if created and page.slug == slug:
        return page, "created"
    # A re-import, or a new page whose slug another page took meanwhile (its links must follow).
    if page.parent_id != (parent.pk if parent else None) or page.position != item.position:
        page.parent, page.position = parent, item.position
        page.save(update_fields=["parent", "position"])
    body = _body_showing_attachments(space, page.slug, item.body, files)
    same_tags = sorted(page.tags.values_list("name", flat=True)) == sorted(tags)
    if page.body == body and page.title == item.title and same_tags:
        return page, "created" if created else "unchanged"
    page_update(
        actor=actor,
        page=page,
        title=item.title,
        body=body,
        base_revision_id=page.current_revision_id,
        message="Re-imported from mkdocs",
        tags=tags,
        render_now=False,
    )
    return page, "created" if created else "updated"


def _attachable_files(item) -> dict[str, str]:
    """The attachment name of each local file a project page shows that may be attached
    (target as written -> name); names are made unique within the page."""
    names: dict[str, str] = {}
    taken: dict[str, Path] = {}
    for target, path in sorted(item.files.items()):
        name = attachment_name(path.name)
        stem, ext = posixpath.splitext(name)
        if ext.lower() not in ATTACHMENT_TYPES:
            continue
        n = 1
        while name in taken and taken[name] != path:
            n += 1
            name = f"{stem}-{n}{ext}"
        taken[name] = path
        names[target] = name
    return names


def _body_showing_attachments(space: Space, slug: str, body: str, files: dict[str, str]) -> str:
    from django.urls import reverse

    from knowledge.mkdocs_project import replace_link_targets

    return replace_link_targets(
        body, {target: reverse("knowledge:attachment", args=[space.key, slug, name]) for target, name in files.items()}
    )


def _attach_project_files(*, actor, page: Page, item, files: dict[str, str]) -> None:
    """Attach the local files the page shows (once: a re-import keeps files already attached)."""
    from django.core.files import File

    from knowledge.mkdocs_project import ProjectError

    existing = set(page.attachments.values_list("name", flat=True))
    for target, name in files.items():
        if name in existing:
            continue
        with open(item.files[target], "rb") as handle:
            try:
                attachment_add(actor=actor, page=page, upload=File(handle, name=name))
            except ServiceError as exc:
                raise ProjectError(f"{item.path} shows “{target}”: {exc} Nothing was imported.") from exc
        existing.add(name)


def space_import_archive(*, actor, space: Space, archive, drop_refused: bool = False) -> ImportResult:
    """Import an uploaded mkdocs project (zip) into the space, keeping its navigation order.

    Settings Bridge will not use are all named in one ``SettingsRefused``; with ``drop_refused``
    the pages are imported without them and ``ImportResult.dropped`` says what was left out."""
    from knowledge.mkdocs_project import ProjectError, extract_zip

    if not permissions.can_manage_space(actor, space):
        raise PermissionDenied("Only the owning team or Platform Admins can import into this space.")
    limit = int(getattr(settings, "KNOWLEDGE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
    size = getattr(archive, "size", None)
    if size is not None and size > limit:
        raise ProjectError(
            f"The archive is {size // (1024 * 1024)} MB; uploads are limited to {limit // (1024 * 1024)} MB."
        )
    with tempfile.TemporaryDirectory(prefix="bridge-import-") as tmp:
        root = extract_zip(archive, Path(tmp))
        return _import_pages(actor=actor, space=space, root=root, drop_refused=drop_refused)


def space_import_directory(*, actor, space: Space, directory: str, drop_refused: bool = False) -> ImportResult:
    """Import an mkdocs project from a server directory under one of KNOWLEDGE_IMPORT_ROOTS."""
    from knowledge.mkdocs_project import ProjectError

    if not permissions.can_manage_space(actor, space) or not permissions.can_import_from_server(actor):
        raise PermissionDenied("Only Platform Admins can import from a server directory.")
    roots = [Path(r).resolve() for r in getattr(settings, "KNOWLEDGE_IMPORT_ROOTS", [])]
    if not roots:
        raise ProjectError("No server import root is configured (KNOWLEDGE_IMPORT_ROOTS).")
    path = Path(directory or "").expanduser()
    if not path.is_absolute():
        path = roots[0] / path
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ProjectError("That directory is outside the configured import roots.")
    if not resolved.is_dir():
        raise ProjectError("That directory does not exist on the server.")
    return _import_pages(actor=actor, space=space, root=resolved, drop_refused=drop_refused)


def space_create_from_project(
    *, actor, key: str, name: str, owner: Entity, files: dict[str, bytes], entity_ids: list[int] | None = None
) -> tuple[Space, ImportResult]:
    """A new space for a service, holding its mkdocs project (``mkdocs.yml`` and ``docs/`` as path ->
    bytes, the scaffolder's rendered files): the same checks and import as an uploaded project, its
    pages linked to ``entity_ids``. Space and pages are created together or not at all."""
    from knowledge.services.spaces import space_create

    with tempfile.TemporaryDirectory(prefix="bridge-import-") as tmp:
        root = Path(tmp).resolve()
        for path, data in files.items():
            if path != "mkdocs.yml" and not path.startswith("docs/"):
                continue
            target = (root / path).resolve()
            if not target.is_relative_to(root):
                raise ServiceError(f"{path} is outside the project.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with transaction.atomic():
            space = space_create(actor=actor, key=key, name=name, owner=owner)
            return space, _import_pages(actor=actor, space=space, root=root, entity_ids=entity_ids)
