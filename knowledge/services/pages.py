"""Pages and their revisions: create, edit (with conflict detection), revert, move, delete."""

from __future__ import annotations

import difflib
import logging
import re

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, ProtectedError
from django.utils.text import slugify

from catalog.models import Entity
from knowledge import permissions
from knowledge.models import (
    Page,
    PageKind,
    Revision,
    RevisionRender,
    Space,
    Tag,
)
from knowledge.rendering import RENDERER_VERSION
from knowledge.selectors import revision_rendered
from knowledge.templates_md import starting_text
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


def max_page_bytes() -> int:
    return int(getattr(settings, "KNOWLEDGE_MAX_PAGE_BYTES", 512 * 1024))


class EditConflict(ServiceError):
    """Someone saved the page after the editor opened it; nothing was written."""

    def __init__(
        self, *, page: Page, base: Revision | None, current: Revision, diff: list[str], fields: list[str] = ()
    ):
        self.page, self.base, self.current, self.diff = page, base, current, diff
        self.fields = list(fields)
        who = current.author.get_username() if current.author else "someone"
        differs = f" The saved page differs from yours in: {', '.join(self.fields)}." if self.fields else ""
        super().__init__(
            f"{who} saved this page (revision {current.number}) while you were editing. "
            "Your changes were not saved: compare them below, merge them into yours and save again." + differs
        )


def unified_diff(old: str, new: str, *, old_label: str = "before", new_label: str = "after") -> list[str]:
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm="")
    )


def _unique_slug(space: Space, title: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(title)[:180] or "page"
    slug, n = base, 1
    qs = Page.objects.filter(space=space)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    taken = set(qs.filter(slug__startswith=base).values_list("slug", flat=True))
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ServiceError("Give the page a title.")
    if len(title) > 200:
        raise ServiceError("The title is too long (200 characters at most).")
    return title


def _check_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n")
    size = len(body.encode("utf-8"))
    if size > max_page_bytes():
        raise ServiceError(
            f"The page is too large ({size // 1024} KB); the limit is {max_page_bytes() // 1024} KB. "
            "Split it into several pages."
        )
    return body


_TAG_NOISE = re.compile(r"[\x00-\x1f\x7f,]+")


def parse_tags(text: str | list[str] | None) -> list[str]:
    """Tags as written (Unicode kept: “数据库”, “C++”), spaces tidied; the same tag in another
    case counts once; at most 20 of 60 characters."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else text
    tags, seen = [], set()
    for item in items:
        tag = " ".join(_TAG_NOISE.sub(" ", str(item)).split())[:60].strip()
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags[:20]


def tag_slug(name: str) -> str:
    """A URL-safe slug for a tag, kept apart from its name: Unicode letters stay, symbols are
    spelled out so “C++” and “C” differ (“c-plus-plus”, “c”)."""
    spelled = name.replace("+", " plus ").replace("#", " sharp ").replace("&", " and ")
    return slugify(spelled, allow_unicode=True)[:80]


def _set_tags(page: Page, names: list[str]) -> None:
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.filter(name=name).first()
        if tag is None:
            tag = Tag.objects.get_or_create(name=name, defaults={"slug": tag_slug(name)})[0]
        tags.append(tag)
    page.tags.set(tags)


def _check_parent(space: Space, page: Page | None, parent: Page | None) -> None:
    if parent is None:
        return
    if parent.space_id != space.pk:
        raise ServiceError("The parent page must be in the same space.")
    node, hops = parent, 0
    while node is not None and hops < 100:
        if page is not None and node.pk == page.pk:
            raise ServiceError("A page cannot be moved under itself or one of its children.")
        node, hops = node.parent, hops + 1


def _update_search_vector(page_id: int) -> None:
    if connection.vendor != "postgresql":
        return
    from django.contrib.postgres.search import SearchVector

    Page.objects.filter(pk=page_id).update(
        search_vector=SearchVector("title", weight="A", config="english")
        + SearchVector("body", weight="B", config="english")
    )


def _write_revision(*, page: Page, actor, message: str, render_now: bool = True) -> Revision:
    number = (page.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = Revision.objects.create(
        page=page,
        number=number,
        title=page.title,
        body=page.body,
        message=(message or "").strip()[:300],
        author=actor if getattr(actor, "is_authenticated", False) else None,
    )
    page.current_revision = revision
    page.updated_by = revision.author
    page.save(update_fields=["current_revision", "updated_by", "updated_at"])
    _update_search_vector(page.pk)
    # Older revisions are rarely opened: keep one stored render per page, not one per revision.
    RevisionRender.objects.filter(revision__page=page).exclude(revision=revision).delete()
    # Render once now and store it, so no reader pays for a large page. Robust: a failure here
    # must not turn a committed save into an error; the first read renders instead.
    if render_now:
        transaction.on_commit(lambda: revision_rendered(revision.pk, revision.body), robust=True)
    return revision


def pages_render_outdated(*, space_id: int | None = None) -> int:
    """Render and store each page's current revision whose stored render is missing or was made by
    another renderer version (after an upgrade or an import), so no reader pays for it; returns how many."""
    pages = Page.objects.filter(space_id=space_id) if space_id is not None else Page.objects.all()
    outdated = (
        pages.exclude(current_revision=None)
        .exclude(current_revision__render__renderer_version=RENDERER_VERSION)
        .values_list("current_revision_id", "current_revision__body")
    )
    count = 0
    for revision_id, body in outdated.iterator(chunk_size=100):
        revision_rendered(revision_id, body)
        count += 1
    return count


def page_create(
    *,
    actor,
    space: Space,
    title: str,
    kind: str = PageKind.ARTICLE,
    body: str | None = None,
    parent: Page | None = None,
    tags: list[str] | None = None,
    entity_ids: list[int] | None = None,
    message: str = "",
    incident=None,
    deployment_ref: str = "",
    source_path: str = "",
    position: int | None = None,
    check_permission: bool = True,
    render_now: bool = True,
) -> Page:
    if check_permission and not permissions.can_edit_space(actor, space):
        raise PermissionDenied("You cannot add pages to this space: it belongs to another team.")
    title = _clean_title(title)
    if kind not in PageKind.values:
        raise ServiceError("Choose a page kind: article, runbook or postmortem.")
    body = _check_body(starting_text(kind, title) if body is None else body)
    _check_parent(space, None, parent)
    deployment_ref = (deployment_ref or "").strip()[:200]
    incident_id = _incident_number(incident)
    _check_postmortem_links(actor, kind=kind, incident_id=incident_id, deployment_ref=deployment_ref)
    with transaction.atomic():
        if position is None:
            position = (Page.objects.filter(space=space, parent=parent).aggregate(p=Max("position"))["p"] or 0) + 1
        page = Page.objects.create(
            space=space,
            parent=parent,
            title=title,
            slug=_unique_slug(space, title),
            kind=kind,
            body=body,
            incident_id=incident_id,
            deployment_ref=deployment_ref,
            source_path=source_path[:500],
            position=position,
        )
        _set_tags(page, parse_tags(tags))
        if entity_ids:
            page.entities.set(Entity.objects.filter(pk__in=entity_ids))
        revision = _write_revision(page=page, actor=actor, message=message or "Created the page", render_now=render_now)
        audit_record(
            actor=actor,
            action="knowledge.page.create",
            obj=page,
            changes={"space": space.key, "kind": kind, "revision": revision.number},
        )
        if page.incident_id:
            _postmortems_changed({page.incident_id})
    return page


_UNSET = object()


def _incident_number(incident) -> int | None:
    """Callers name the incident by number, or pass the incident itself (anything with a ``pk``)."""
    return getattr(incident, "pk", incident)


def _check_postmortem_links(actor, *, kind: str, incident_id: int | None, deployment_ref: str) -> None:
    """Only postmortems point at an incident and a deployment. Whether this person may link this
    incident and name this deployment is for the incidents app to say (``portal.extensions``)."""
    if kind != PageKind.POSTMORTEM and (incident_id is not None or deployment_ref):
        raise ServiceError(
            "Only postmortems link to an incident or a deployment: clear those fields or make the page a postmortem."
        )
    if incident_id is None:
        return
    from portal.extensions import postmortem_link_check

    postmortem_link_check(actor, incident_id=incident_id, deployment_ref=deployment_ref)


def _postmortems_changed(incident_ids: set) -> None:
    """Tell the incidents app (and through it pipelines' DORA figures) that these incidents'
    postmortems changed."""
    from portal.events import postmortems_changed

    postmortems_changed.send(sender=Page, incident_ids=sorted(i for i in incident_ids if i))


def _differences(
    page: Page, current: Revision, *, title, body, tags, entity_ids, parent, kind, incident, deployment_ref, position
) -> list[str]:
    """What a save would change in the saved page (fields not sent change nothing)."""
    differs = []
    if current.title != title:
        differs.append("title")
    if current.body != body:
        differs.append("text")
    if kind is not None and kind != page.kind:
        differs.append("kind")
    if parent is not _UNSET and (parent.pk if parent else None) != page.parent_id:
        differs.append("parent page")
    if position is not None and max(0, position) != page.position:
        differs.append("position")
    if incident is not _UNSET and _incident_number(incident) != page.incident_id:
        differs.append("incident")
    if deployment_ref is not None and deployment_ref.strip()[:200] != page.deployment_ref:
        differs.append("deployment")
    if tags is not None and set(parse_tags(tags)) != set(page.tags.values_list("name", flat=True)):
        differs.append("tags")
    if entity_ids is not None:
        wanted = set(Entity.objects.filter(pk__in=entity_ids).values_list("pk", flat=True))
        if wanted != set(page.entities.values_list("pk", flat=True)):
            differs.append("linked entities")
    return differs


def page_update(
    *,
    actor,
    page: Page,
    title: str,
    body: str,
    base_revision_id: int | None,
    message: str = "",
    tags: list[str] | None = None,
    entity_ids: list[int] | None = None,
    parent=_UNSET,
    kind: str | None = None,
    incident=_UNSET,
    deployment_ref: str | None = None,
    position: int | None = None,
    render_now: bool = True,
) -> Revision:
    """Save a new revision. ``base_revision_id`` is the revision the editor started from:
    when someone else saved meanwhile, raise ``EditConflict`` and write nothing.

    ``incident`` (an incident's number, an incident, or None) and ``deployment_ref`` are left as they
    are when not given."""
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot edit this page: its space belongs to another team.")
    title = _clean_title(title)
    body = _check_body(body)
    if kind is not None and kind not in PageKind.values:
        raise ServiceError("Choose a page kind: article, runbook or postmortem.")
    with transaction.atomic():
        locked = Page.objects.select_for_update().get(pk=page.pk)
        current = Revision.objects.filter(pk=locked.current_revision_id).first()
        changed_meanwhile = current is not None and base_revision_id != current.pk
        # Revisions keep only title and text, so a stale edit cannot tell which other fields the
        # other saver changed: anything it would change in the saved page is a conflict.
        differs = changed_meanwhile and _differences(
            locked, current, title=title, body=body, tags=tags, entity_ids=entity_ids, parent=parent,
            kind=kind, incident=incident, deployment_ref=deployment_ref, position=position,
        )  # fmt: skip
        if differs:
            base = Revision.objects.filter(pk=base_revision_id, page=locked).first()
            raise EditConflict(
                page=locked,
                base=base,
                current=Revision.objects.select_related("author").get(pk=current.pk),
                diff=unified_diff(
                    current.body, body, old_label=f"revision {current.number} (saved)", new_label="your text"
                ),
                fields=differs,
            )
        if parent is not _UNSET:
            _check_parent(locked.space, locked, parent)
            locked.parent = parent
        changes = {}
        if locked.title != title:
            changes["title"] = [locked.title, title]
        locked.title, locked.body = title, body
        if kind is not None and kind != locked.kind:
            changes["kind"] = [locked.kind, kind]
            locked.kind = kind
        new_incident = locked.incident_id if incident is _UNSET else _incident_number(incident)
        new_ref = locked.deployment_ref if deployment_ref is None else deployment_ref.strip()[:200]
        old_incident = locked.incident_id
        if "kind" in changes or new_incident != locked.incident_id or new_ref != locked.deployment_ref:
            _check_postmortem_links(actor, kind=locked.kind, incident_id=new_incident, deployment_ref=new_ref)
        if new_incident != locked.incident_id:
            changes["incident"] = [locked.incident_id, new_incident]
            locked.incident_id = new_incident
        if new_ref != locked.deployment_ref:
            changes["deployment_ref"] = [locked.deployment_ref, new_ref]
            locked.deployment_ref = new_ref
        if position is not None:
            locked.position = max(0, position)
        locked.save()
        if tags is not None:
            _set_tags(locked, parse_tags(tags))
        if entity_ids is not None:
            locked.entities.set(Entity.objects.filter(pk__in=entity_ids))
        revision = _write_revision(page=locked, actor=actor, message=message, render_now=render_now)
        changes["revision"] = revision.number
        audit_record(actor=actor, action="knowledge.page.update", obj=locked, changes=changes)
        if "deployment_ref" in changes or "incident" in changes:
            _postmortems_changed({old_incident, locked.incident_id})
    page.refresh_from_db()
    return revision


def page_revert(*, actor, page: Page, revision_id: int, message: str = "") -> Revision:
    """Bring back an old revision's text as a new revision; history is never rewritten."""
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot edit this page: its space belongs to another team.")
    old = Revision.objects.filter(pk=revision_id, page=page).first()
    if old is None:
        raise ServiceError("That revision does not belong to this page.")
    with transaction.atomic():
        locked = Page.objects.select_for_update().get(pk=page.pk)
        locked.title, locked.body = old.title, old.body
        locked.save()
        revision = _write_revision(page=locked, actor=actor, message=message or f"Reverted to revision {old.number}")
        audit_record(
            actor=actor, action="knowledge.page.revert", obj=locked, changes={"to": old.number, "new": revision.number}
        )
    page.refresh_from_db()
    return revision


def page_move(*, actor, page: Page, parent: Page | None, position: int | None = None) -> Page:
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot edit this page: its space belongs to another team.")
    _check_parent(page.space, page, parent)
    with transaction.atomic():
        page.parent = parent
        if position is not None:
            page.position = max(0, position)
        page.save(update_fields=["parent", "position", "updated_at"])
        audit_record(actor=actor, action="knowledge.page.move", obj=page, changes={"parent": parent and parent.pk})
    return page


def page_delete(*, actor, page: Page) -> None:
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot delete this page: its space belongs to another team.")
    try:
        with transaction.atomic():
            page.children.update(parent=page.parent)
            audit_record(actor=actor, action="knowledge.page.delete", obj=page, changes={"title": page.title})
            page.delete()
    except ProtectedError:
        # The incidents app keeps the runbooks its incidents were worked through (on_delete=PROTECT).
        raise ServiceError(
            "This runbook has incident history, so it cannot be deleted. Rename or move it instead."
        ) from None
