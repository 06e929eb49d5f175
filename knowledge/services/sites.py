"""A space out as an mkdocs project (zip), and its built static site."""

from __future__ import annotations

import logging
import posixpath
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from knowledge import permissions
from knowledge.models import (
    Attachment,
    Page,
    SiteBuild,
    Space,
)
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


def _export_tree(space: Space):
    from knowledge.mkdocs_project import ExportPage, relative_link
    from knowledge.rendering import ID_PREFIX, WIKILINK_RE, split_anchor, sub_outside_code

    pages = list(Page.objects.filter(space=space).order_by("position", "title"))
    children = _export_children(pages)
    paths: dict[int, str] = {}
    taken: set[str] = set()

    def assign(parent_id, folder: str, depth: int):
        for p in children.get(parent_id, []):
            if p.source_path and p.source_path not in taken and not p.source_path.startswith("_section/"):
                path = p.source_path
            elif children.get(p.pk):
                path = posixpath.join(folder, p.slug, "index.md")
            else:
                path = posixpath.join(folder, f"{p.slug}.md")
            while path in taken:
                path = path[:-3] + "-1.md"
            taken.add(path)
            paths[p.pk] = path
            assign(p.pk, posixpath.dirname(path) if path.endswith("index.md") else folder, depth + 1)

    assign(None, "", 0)
    by_title = {p.title.lower(): p for p in pages}
    wikilink = re.compile(WIKILINK_RE)

    files = _export_attachments(space)

    def convert(page: Page) -> str:
        def repl(m):
            title, anchor = split_anchor(m.group(1))
            # mkdocs gives headings unprefixed ids.
            fragment = "#" + anchor.removeprefix(ID_PREFIX) if anchor else ""
            label = (m.group(2) or m.group(1)).strip()
            if not title and fragment:
                return f"[{label}]({fragment})"
            target = by_title.get(title.lower())
            if target is None or target.pk not in paths:
                return m.group(0)  # kept as written: a link to a page that does not exist yet
            return f"[{label}]({relative_link(paths[page.pk], paths[target.pk])}{fragment})"

        return _files_as_relative_links(sub_outside_code(wikilink, repl, page.body), paths[page.pk], space, files)

    def node(p: Page) -> ExportPage:
        return ExportPage(
            pk=p.pk,
            title=p.title,
            body=convert(p),
            path=paths[p.pk],
            children=[node(c) for c in children.get(p.pk, [])],
            section_only=p.source_path.startswith("_section/") and p.body == f"# {p.title}\n",
        )

    roots = [node(p) for p in children.get(None, []) if p.pk in paths]
    return roots, {path: (lambda a=a: a.file.open("rb")) for (_slug, _name), (path, a) in files.items()}


def _export_attachments(space: Space) -> dict[tuple[str, str], tuple[str, Attachment]]:
    """(page slug, file name) -> (its path in the exported docs folder, the attachment)."""
    attachments = Attachment.objects.filter(page__space=space).select_related("page")
    return {(a.page.slug, a.name): (f"attachments/{a.page.slug}/{a.name}", a) for a in attachments}


def _files_as_relative_links(body: str, page_path: str, space: Space, files) -> str:
    """Links to the space's attachments (``/knowledge/s/<space>/p/<page>/files/<name>``) become
    links to the exported copies, relative to the page, so the project shows them anywhere."""
    from urllib.parse import quote, unquote, urlsplit

    from django.urls import reverse

    from knowledge.mkdocs_project import link_targets_in, relative_link, replace_link_targets

    prefix = reverse("knowledge:attachment-upload", args=[space.key, "page"]).rsplit("/page/", 1)[0] + "/"
    replacements = {}
    for target in link_targets_in(body):
        parts = urlsplit(target)
        if not parts.path.startswith(prefix):
            continue
        slug, _, name = parts.path[len(prefix) :].partition("/files/")
        exported = files.get((slug, unquote(name)))
        if exported is not None:
            replacements[target] = quote(relative_link(page_path, exported[0]))
    return replace_link_targets(body, replacements)


EXPORT_MAX_DEPTH = 20


def _export_children(pages: list[Page]) -> dict[int | None, list[Page]]:
    """The page tree to export: pages nested deeper than EXPORT_MAX_DEPTH become children of
    their ancestor at that depth, in tree order (mkdocs navigation and folders stay usable)."""
    children: dict[int | None, list[Page]] = {}
    for p in pages:
        children.setdefault(p.parent_id, []).append(p)
    flattened = dict(children)
    stack = [(p, 0) for p in reversed(children.get(None, []))]
    while stack:
        page, depth = stack.pop()
        if depth < EXPORT_MAX_DEPTH:
            stack.extend((c, depth + 1) for c in reversed(children.get(page.pk, [])))
            continue
        descendants, pending = [], list(reversed(children.get(page.pk, [])))
        while pending:
            child = pending.pop()
            descendants.append(child)
            flattened[child.pk] = []
            pending.extend(reversed(children.get(child.pk, [])))
        flattened[page.pk] = descendants
    return flattened


def space_export_project(*, space: Space, dest: Path) -> Path:
    """Write the space as an mkdocs project under ``dest``; return its mkdocs.yml."""
    from knowledge.mkdocs_project import write_project

    roots, files = _export_tree(space)
    return write_project(dest, site_name=space.name, roots=roots, files=files)


def space_export_zip(*, actor, space: Space) -> bytes:
    from knowledge.mkdocs_project import zip_directory

    if not permissions.can_read_space(actor, space):
        raise PermissionDenied("Sign in to export a space.")
    with tempfile.TemporaryDirectory(prefix="bridge-export-") as tmp:
        space_export_project(space=space, dest=Path(tmp))
        return zip_directory(Path(tmp))


def _publish_site(built: Path, target: Path, old: Path) -> None:
    """Swap the built site in; on failure the previous site stays published."""
    if target.exists():
        target.rename(old)
    try:
        built.rename(target)
    except OSError:
        if old.exists() and not target.exists():
            old.rename(target)
        raise


SITE_LINK_SALT = "knowledge.built-site"


def built_site_token(*, space: Space | None = None, entity_id: int | None = None) -> str:
    """A signed, expiring capability for one built site. A sandboxed site runs in an opaque origin,
    so its own requests for CSS, JS and the search index carry no session cookie: the token in
    the path is what lets them through (whoever holds the link reads the site until it expires)."""
    subject = f"space:{space.key}" if space is not None else f"entity:{int(entity_id)}"
    return signing.TimestampSigner(salt=SITE_LINK_SALT).sign(subject)


def built_site_root(token: str) -> Path:
    """The folder of the built site a token opens; ``ServiceError`` when it is forged or expired."""
    max_age = int(getattr(settings, "KNOWLEDGE_SITE_LINK_SECONDS", 8 * 3600))
    try:
        subject = signing.TimestampSigner(salt=SITE_LINK_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise ServiceError("This link to the built site has expired: open the site again from its space or service.")
    except signing.BadSignature:
        raise ServiceError("This is not a valid link to a built site.")
    kind, _, ident = subject.partition(":")
    if kind == "entity":
        from knowledge.services.service_docs import service_docs_dir

        return service_docs_dir(int(ident))
    return sites_dir() / ident


def sites_dir() -> Path:
    return Path(getattr(settings, "KNOWLEDGE_SITES_DIR", Path(settings.VAR_DIR) / "knowledge-sites"))


def site_build_request(*, actor, space: Space) -> SiteBuild:
    if not permissions.can_manage_space(actor, space):
        raise PermissionDenied("Only the owning team or Platform Admins can build this space.")
    with transaction.atomic():
        build = SiteBuild.objects.create(space=space, requested_by=actor)
        audit_record(actor=actor, action="knowledge.site.build", obj=space, changes={"build": build.pk})
        from knowledge.tasks import build_site

        transaction.on_commit(lambda: build_site.delay(build.pk))
    return build


def site_build_run(*, build_id: int) -> SiteBuild:
    """Export the space, run ``mkdocs build --strict`` and publish the site (idempotent)."""
    from knowledge.mkdocs_project import build as mkdocs_build

    claimed = SiteBuild.objects.filter(pk=build_id, status=SiteBuild.Status.QUEUED).update(
        status=SiteBuild.Status.RUNNING
    )
    build = SiteBuild.objects.select_related("space").get(pk=build_id)
    if not claimed:
        return build
    space = build.space
    target = sites_dir() / space.key
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bridge-build-", dir=target.parent) as tmp:
            cfg = space_export_project(space=space, dest=Path(tmp) / "project")
            out = Path(tmp) / "site"
            ok, log = mkdocs_build(cfg, out)
            if ok:
                _publish_site(out, target, Path(tmp) / "old")
    except Exception as exc:  # a build must end as failed, never stay "running"
        logger.exception("Site build %s of space %s failed", build.pk, space.key)
        ok, log = False, f"The site could not be built or published: {exc.__class__.__name__}: {exc}"
    build.status = SiteBuild.Status.SUCCEEDED if ok else SiteBuild.Status.FAILED
    build.log = log
    build.finished_at = timezone.now()
    build.save(update_fields=["status", "log", "finished_at"])
    return build
