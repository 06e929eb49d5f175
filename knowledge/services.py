"""Every change to the knowledge base: spaces, pages and revisions, incidents, imports and builds."""

from __future__ import annotations

import difflib
import logging
import posixpath
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Entity
from knowledge import permissions
from knowledge.models import (
    Attachment,
    Incident,
    IncidentStep,
    Page,
    PageKind,
    Revision,
    RevisionRender,
    ServiceDocsBuild,
    SiteBuild,
    Space,
    Tag,
)
from knowledge.rendering import RENDERER_VERSION, task_steps
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


# --- spaces ------------------------------------------------------------------------


def _check_key(key: str) -> str:
    key = slugify(key or "")[:60]
    if not key:
        raise ServiceError("Give the space a short key (letters, digits and dashes).")
    return key


def space_create(
    *, actor, key: str, name: str, owner: Entity | None, description: str = "", open_for_edit: bool = False
) -> Space:
    if owner is not None and owner.kind != "Group":
        raise ServiceError("A space is owned by a team (a catalog Group).")
    if not permissions.can_create_space(actor, owner):
        raise PermissionDenied("Only members of the owning team or Platform Admins can create this space.")
    key = _check_key(key)
    name = (name or "").strip()[:200]
    if not name:
        raise ServiceError("Give the space a name.")
    with transaction.atomic():
        if Space.objects.filter(key=key).exists():
            raise ServiceError(f"A space with the key “{key}” already exists.")
        space = Space.objects.create(
            key=key, name=name, owner=owner, description=description, open_for_edit=open_for_edit
        )
        audit_record(actor=actor, action="knowledge.space.create", obj=space, changes={"key": key, "name": name})
    return space


def space_update(
    *, actor, space: Space, name: str, description: str, owner: Entity | None, open_for_edit: bool
) -> Space:
    if not permissions.can_manage_space(actor, space):
        raise PermissionDenied("Only the owning team or Platform Admins can change this space.")
    if owner is not None and owner.kind != "Group":
        raise ServiceError("A space is owned by a team (a catalog Group).")
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space.pk)
        if (owner.pk if owner else None) != space.owner_id and not permissions.can_own_space(actor, owner):
            raise PermissionDenied(
                "You can hand the space only to a team you are a member of; Platform Admins can hand it to any team."
                if owner is not None
                else "Only Platform Admins can leave a space without an owning team."
            )
        changes = {}
        for field, value in [
            ("name", name.strip()[:200] or space.name),
            ("description", description),
            ("owner_id", owner.pk if owner else None),
            ("open_for_edit", open_for_edit),
        ]:
            if getattr(space, field) != value:
                changes[field] = [getattr(space, field), value]
                setattr(space, field, value)
        space.save()
        audit_record(actor=actor, action="knowledge.space.update", obj=space, changes=changes)
    return space


# --- pages -------------------------------------------------------------------------


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


def parse_tags(text: str | list[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else text
    tags = []
    for item in items:
        tag = slugify(str(item))[:60]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:20]


def _set_tags(page: Page, names: list[str]) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in names]
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


def _write_revision(*, page: Page, actor, message: str) -> Revision:
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
    transaction.on_commit(lambda: revision_rendered(revision.pk, revision.body), robust=True)
    return revision


def pages_render_outdated() -> int:
    """Render and store each page's current revision whose stored render is missing or was made by
    another renderer version (after an upgrade), so no reader pays for it; returns how many."""
    outdated = (
        Page.objects.exclude(current_revision=None)
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
    incident: Incident | None = None,
    deployment_ref: str = "",
    source_path: str = "",
    position: int | None = None,
    check_permission: bool = True,
) -> Page:
    if check_permission and not permissions.can_edit_space(actor, space):
        raise PermissionDenied("You cannot add pages to this space: it belongs to another team.")
    title = _clean_title(title)
    if kind not in PageKind.values:
        raise ServiceError("Choose a page kind: article, runbook or postmortem.")
    body = _check_body(starting_text(kind, title) if body is None else body)
    _check_parent(space, None, parent)
    deployment_ref = (deployment_ref or "").strip()[:200]
    _check_postmortem_links(actor, kind=kind, incident=incident, deployment_ref=deployment_ref)
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
            incident=incident,
            deployment_ref=deployment_ref,
            source_path=source_path[:500],
            position=position,
        )
        _set_tags(page, parse_tags(tags))
        if entity_ids:
            page.entities.set(Entity.objects.filter(pk__in=entity_ids))
        revision = _write_revision(page=page, actor=actor, message=message or "Created the page")
        audit_record(
            actor=actor,
            action="knowledge.page.create",
            obj=page,
            changes={"space": space.key, "kind": kind, "revision": revision.number},
        )
        if page.incident_id:
            _announce_incident(page.incident)
    return page


_UNSET = object()


def _check_postmortem_links(actor, *, kind: str, incident: Incident | None, deployment_ref: str) -> None:
    """Only postmortems point at an incident and a deployment; the incident must be one the
    author can read (a reference to an unknown one is refused before it gets here)."""
    if kind != PageKind.POSTMORTEM and (incident is not None or deployment_ref):
        raise ServiceError(
            "Only postmortems link to an incident or a deployment: clear those fields or make the page a postmortem."
        )
    if incident is not None and not permissions.can_read_space(actor, incident.runbook.space):
        raise PermissionDenied("You cannot link a postmortem to an incident you cannot see.")


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
    if incident is not _UNSET and (incident.pk if incident else None) != page.incident_id:
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
) -> Revision:
    """Save a new revision. ``base_revision_id`` is the revision the editor started from:
    when someone else saved meanwhile, raise ``EditConflict`` and write nothing.

    ``incident`` (an Incident or None) and ``deployment_ref`` are left as they are when not given."""
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
        new_incident = locked.incident if incident is _UNSET else incident
        new_ref = locked.deployment_ref if deployment_ref is None else deployment_ref.strip()[:200]
        old_incident = locked.incident
        if (
            "kind" in changes
            or (incident is not _UNSET and (new_incident and new_incident.pk) != locked.incident_id)
            or new_ref != locked.deployment_ref
        ):
            _check_postmortem_links(actor, kind=locked.kind, incident=new_incident, deployment_ref=new_ref)
        if (new_incident and new_incident.pk) != locked.incident_id:
            changes["incident"] = [locked.incident_id, new_incident and new_incident.pk]
            locked.incident = new_incident
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
        revision = _write_revision(page=locked, actor=actor, message=message)
        changes["revision"] = revision.number
        audit_record(actor=actor, action="knowledge.page.update", obj=locked, changes=changes)
        if "deployment_ref" in changes or "incident" in changes:
            for linked in {old_incident, locked.incident} - {None}:
                _announce_incident(linked)
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
    if page.incidents.exists():
        raise ServiceError("This runbook has incident history, so it cannot be deleted. Rename or move it instead.")
    with transaction.atomic():
        page.children.update(parent=page.parent)
        audit_record(actor=actor, action="knowledge.page.delete", obj=page, changes={"title": page.title})
        page.delete()


# --- incidents ---------------------------------------------------------------------


def _announce_incident(incident: Incident) -> None:
    """Tell other apps (the pipelines' DORA metrics) about the incident, once committed."""
    from portal.events import incident_changed

    postmortem = incident.postmortems.exclude(deployment_ref="").order_by("-pk").first()

    def send():
        incident_changed.send(
            sender=Incident,
            source="knowledge",
            external_id=str(incident.pk),
            title=incident.summary or incident.runbook.title,
            entity_id=incident.entity_id,
            started_at=incident.started_at,
            resolved_at=incident.closed_at,
            outcome=incident.outcome,
            deployment_ref=postmortem.deployment_ref if postmortem else "",
            url=incident.get_absolute_url(),
        )

    transaction.on_commit(send)


def incident_start(*, actor, runbook: Page, entity: Entity | None, severity: str, summary: str = "") -> Incident:
    if runbook.kind != PageKind.RUNBOOK:
        raise ServiceError("Incidents are started from a runbook.")
    if not permissions.can_start_incident(actor, runbook):
        raise PermissionDenied("Sign in to start an incident.")
    from knowledge.models import Severity

    if severity not in Severity.values:
        raise ServiceError("Choose a severity: sev1, sev2, sev3 or sev4.")
    if entity is not None and not runbook.entities.filter(pk=entity.pk).exists():
        # The entity's team is notified and its DORA figures count the incident: only the
        # services the runbook is written for qualify.
        raise ServiceError(f"“{entity.ref}” is not one of this runbook's services; link it to the runbook first.")
    with transaction.atomic():
        incident = Incident.objects.create(
            runbook=runbook,
            revision=runbook.current_revision,
            entity=entity,
            severity=severity,
            summary=(summary or "").strip()[:300],
            started_by=actor,
            started_at=timezone.now(),
        )
        IncidentStep.objects.bulk_create(
            IncidentStep(incident=incident, number=i, text=text) for i, text in enumerate(task_steps(runbook.body), 1)
        )
        audit_record(
            actor=actor,
            action="knowledge.incident.start",
            obj=incident,
            changes={"runbook": runbook.pk, "entity": entity.ref if entity else None, "severity": severity},
        )
        _announce_incident(incident)
        if entity is not None:
            from catalog.selectors import owner_team_members
            from portal.models import NotificationEvent
            from portal.services import notify

            notify(
                users=owner_team_members(entity),
                event=NotificationEvent.INCIDENT_STARTED,
                title=f"Incident on {entity.title or entity.name} ({severity})",
                body=f"{actor.get_username()} started “{runbook.title}”. {incident.summary}".strip(),
                url=incident.get_absolute_url(),
                team_refs=[entity.owner_ref] if entity.owner_ref else [],
            )
    return incident


def incident_step_set(*, actor, incident: Incident, number: int, done: bool, note: str | None = None) -> IncidentStep:
    if not permissions.can_work_incident(actor, incident):
        raise PermissionDenied("Only the incident's responder and the runbook's team can update its steps.")
    if note is not None and "\x00" in note:
        raise ServiceError("The note contains a NUL character, which a note cannot hold; nothing was saved.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ServiceError("The incident is closed; its steps can no longer change.")
        step = IncidentStep.objects.filter(incident=locked, number=number).first()
        if step is None:
            raise ServiceError("No such step in this incident.")
        if step.done != bool(done):
            step.done = bool(done)
            step.done_by = actor if done else None
            step.done_at = timezone.now() if done else None
        if note is not None:
            step.note = note.strip()[:5000]
        step.save()
        audit_record(
            actor=actor, action="knowledge.incident.step", obj=locked, changes={"step": number, "done": step.done}
        )
    return step


def incident_close(*, actor, incident: Incident, outcome: str, notes: str = "") -> Incident:
    from knowledge.models import Outcome

    if not permissions.can_work_incident(actor, incident):
        raise PermissionDenied("Only the incident's responder and the runbook's team can close it.")
    if outcome not in Outcome.values:
        raise ServiceError("Choose an outcome: resolved, mitigated, false_alarm or escalated.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ServiceError("The incident is already closed.")
        locked.closed_at = timezone.now()
        locked.closed_by = actor
        locked.outcome = outcome
        locked.outcome_notes = (notes or "").strip()[:10000]
        locked.save()
        audit_record(actor=actor, action="knowledge.incident.close", obj=locked, changes={"outcome": outcome})
        _announce_incident(locked)
    return locked


# --- mkdocs import, export and build ---------------------------------------------------


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _import_pages(*, actor, space: Space, root: Path) -> ImportResult:
    from knowledge.mkdocs_project import read_project

    _config, project_pages = read_project(root)
    with transaction.atomic():
        result = _import_project_pages(actor=actor, space=space, project_pages=project_pages)
    return result


def _import_project_pages(*, actor, space: Space, project_pages) -> ImportResult:
    from knowledge.mkdocs_project import ProjectError

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    by_path: dict[str, Page] = {}
    existing = {p.source_path: p for p in Page.objects.filter(space=space).exclude(source_path="")}
    for item in project_pages:
        parent = by_path.get(item.parent) if item.parent else None
        try:
            page, outcome = _import_one_page(
                actor=actor, space=space, item=item, parent=parent, page=existing.get(item.path)
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


def _import_one_page(*, actor, space: Space, item, parent: Page | None, page: Page | None) -> tuple[Page, str]:
    files = _attachable_files(item)
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
            check_permission=False,
        )
    _attach_project_files(actor=actor, page=page, item=item, files=files)
    if created and page.slug == slug:
        return page, "created"
    # A re-import, or a new page whose slug another page took meanwhile (its links must follow).
    if page.parent_id != (parent.pk if parent else None) or page.position != item.position:
        page.parent, page.position = parent, item.position
        page.save(update_fields=["parent", "position"])
    body = _body_showing_attachments(space, page.slug, item.body, files)
    if page.body == body and page.title == item.title:
        return page, "created" if created else "unchanged"
    page_update(
        actor=actor,
        page=page,
        title=item.title,
        body=body,
        base_revision_id=page.current_revision_id,
        message="Re-imported from mkdocs",
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


def space_import_archive(*, actor, space: Space, archive) -> ImportResult:
    """Import an uploaded mkdocs project (zip) into the space, keeping its navigation order."""
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
        return _import_pages(actor=actor, space=space, root=root)


def space_import_directory(*, actor, space: Space, directory: str) -> ImportResult:
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
    return _import_pages(actor=actor, space=space, root=resolved)


def _export_tree(space: Space):
    from knowledge.mkdocs_project import ExportPage, relative_link
    from knowledge.rendering import ID_PREFIX, WIKILINK_RE, split_anchor

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
                return label
            return f"[{label}]({relative_link(paths[page.pk], paths[target.pk])}{fragment})"

        return _files_as_relative_links(wikilink.sub(repl, page.body), paths[page.pk], space, files)

    def node(p: Page) -> ExportPage:
        return ExportPage(
            pk=p.pk,
            title=p.title,
            body=convert(p),
            path=paths[p.pk],
            children=[node(c) for c in children.get(p.pk, [])],
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


# --- service docs (TechDocs-style) -------------------------------------------------------

TECHDOCS_ANNOTATION = "backstage.io/techdocs-ref"


def service_docs_source(entity: Entity) -> Path:
    """The local directory of an entity's docs, from ``backstage.io/techdocs-ref: dir:<path>``.

    Relative paths are read from the entity's ``file:`` location (where its catalog-info.yaml
    lives) or else from the first import root; the result must stay under KNOWLEDGE_IMPORT_ROOTS.
    """
    from knowledge.mkdocs_project import ProjectError

    ref = str((entity.annotations or {}).get(TECHDOCS_ANNOTATION, "")).strip()
    if not ref:
        raise ProjectError(f"{entity.ref} has no {TECHDOCS_ANNOTATION} annotation.")
    if not ref.startswith("dir:"):
        raise ProjectError(f"Only “dir:” docs references are built here, not “{ref.split(':', 1)[0]}:”.")
    roots = [Path(r).resolve() for r in getattr(settings, "KNOWLEDGE_IMPORT_ROOTS", [])]
    if not roots:
        raise ProjectError("No docs source root is configured (KNOWLEDGE_IMPORT_ROOTS).")
    path = Path(ref[4:].strip() or ".")
    if not path.is_absolute():
        location = str((entity.annotations or {}).get("backstage.io/managed-by-location", ""))
        base = roots[0]
        if location.startswith("file:"):
            base = Path(location[5:]).parent
        path = base / path
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ProjectError("The docs directory is outside the configured source roots.")
    if not resolved.is_dir():
        raise ProjectError(f"The docs directory {resolved} does not exist on the server.")
    return resolved


def service_docs_build_request(*, actor, entity: Entity) -> ServiceDocsBuild:
    if actor is not None and not permissions.can_build_service_docs(actor, entity):
        raise PermissionDenied("Only the owning team or Platform Admins can rebuild these docs.")
    with transaction.atomic():
        build = ServiceDocsBuild.objects.create(entity=entity, requested_by=actor)
        audit_record(actor=actor, action="knowledge.docs.build", obj=entity, changes={"build": build.pk})
        from knowledge.tasks import build_service_docs

        transaction.on_commit(lambda: build_service_docs.delay(build.pk))
    return build


def service_docs_dir(entity_id: int) -> Path:
    return sites_dir() / "entities" / str(int(entity_id))


def service_docs_build_run(*, build_id: int) -> ServiceDocsBuild:
    """Copy the checked source, build it with ``mkdocs build --strict`` and publish (idempotent)."""
    import shutil

    from knowledge.mkdocs_project import ProjectError, load_config
    from knowledge.mkdocs_project import build as mkdocs_build

    claimed = ServiceDocsBuild.objects.filter(pk=build_id, status=ServiceDocsBuild.Status.QUEUED).update(
        status=ServiceDocsBuild.Status.RUNNING
    )
    build = ServiceDocsBuild.objects.select_related("entity").get(pk=build_id)
    if not claimed:
        return build
    ok, log = False, ""
    try:
        source = service_docs_source(build.entity)
        build.source = str(source)
        target = service_docs_dir(build.entity_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bridge-docs-", dir=target.parent) as tmp:
            # Copy only what mkdocs reads (mkdocs.yml and docs_dir), following the links that were
            # checked to stay inside the source, so the copy that is built has no links at all.
            config = load_config(source)
            copy = Path(tmp) / "src"
            docs_rel = config["_docs_path"].relative_to(source)
            copy.mkdir()
            cfg = copy / config["_config_path"].name
            shutil.copyfile(config["_config_path"], cfg)
            shutil.copytree(config["_docs_path"], copy / docs_rel, symlinks=False)
            load_config(copy)  # check the copy that is built, not only the original
            out = Path(tmp) / "site"
            ok, log = mkdocs_build(cfg, out)
            if ok:
                _publish_site(out, target, Path(tmp) / "old")
    except ProjectError as exc:
        ok, log = False, f"Refused: {exc}"
    except (OSError, shutil.Error) as exc:
        # E.g. a broken link in the docs folder: record it rather than leave the build running.
        ok, log = False, f"Could not read the docs source or publish the site: {exc}"
    except Exception as exc:  # a build must end as failed, never stay "running"
        logger.exception("Docs build %s of %s failed", build.pk, build.entity.ref)
        ok, log = False, f"The build failed: {exc.__class__.__name__}: {exc}"
    build.status = ServiceDocsBuild.Status.SUCCEEDED if ok else ServiceDocsBuild.Status.FAILED
    build.log = log
    build.finished_at = timezone.now()
    build.save(update_fields=["status", "log", "source", "finished_at"])
    return build


# --- attachments -------------------------------------------------------------------------

# Extension -> (content type, what the content must start with, or None for text types): bytes
# or, where a fixed prefix says too little, a pattern.
ATTACHMENT_TYPES = {
    ".png": ("image/png", [b"\x89PNG\r\n\x1a\n"]),
    ".jpg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".jpeg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".gif": ("image/gif", [b"GIF87a", b"GIF89a"]),
    ".webp": ("image/webp", [re.compile(rb"RIFF....WEBP", re.DOTALL)]),  # RIFF alone is also WAV, AVI
    ".pdf": ("application/pdf", [b"%PDF-"]),
    ".zip": ("application/zip", [b"PK\x03\x04", b"PK\x05\x06"]),
    ".txt": ("text/plain", None),
    ".log": ("text/plain", None),
    ".md": ("text/plain", None),
    ".csv": ("text/csv", None),
    ".json": ("application/json", None),
    ".yaml": ("text/plain", None),
    ".yml": ("text/plain", None),
}


def max_attachment_bytes() -> int:
    return int(getattr(settings, "KNOWLEDGE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))


def attachment_name(filename: str) -> str:
    """The name a file is attached under: its base name, in characters safe in a URL path."""
    return re.sub(r"[^\w.\- ]", "_", Path(filename).name.strip())[:200]


def attachment_add(*, actor, page: Page, upload) -> Attachment:
    """Attach a file: allowed types only (by name and by content), within the size limit."""
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot add files to this page: its space belongs to another team.")
    name = attachment_name(getattr(upload, "name", "") or "")
    ext = Path(name).suffix.lower()
    if not name or ext not in ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(ATTACHMENT_TYPES))
        raise ServiceError(f"Files of this type cannot be attached. Allowed: {allowed}.")
    size = upload.size
    if size > max_attachment_bytes():
        raise ServiceError(
            f"The file is {size // 1024} KB; attachments are limited to {max_attachment_bytes() // 1024} KB."
        )
    content_type, magic = ATTACHMENT_TYPES[ext]
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    if magic is not None and not any(
        head.startswith(m) if isinstance(m, bytes) else m.match(head) is not None for m in magic
    ):
        raise ServiceError(f"The file's content does not look like a {ext} file.")
    if magic is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end is fine
                raise ServiceError("Text attachments must be UTF-8 text.")
    with transaction.atomic():
        if Attachment.objects.filter(page=page, name=name).exists():
            raise ServiceError(f"This page already has a file called “{name}”. Delete it first or rename yours.")
        attachment = Attachment(page=page, name=name, content_type=content_type, size=size, uploaded_by=actor)
        attachment.file.save(name, upload, save=False)
        attachment.save()
        audit_record(actor=actor, action="knowledge.attachment.add", obj=page, changes={"name": name, "size": size})
    return attachment


def attachment_delete(*, actor, attachment: Attachment) -> None:
    if not permissions.can_edit_space(actor, attachment.page.space):
        raise PermissionDenied("You cannot remove files from this page.")
    with transaction.atomic():
        audit_record(actor=actor, action="knowledge.attachment.delete", obj=attachment.page,
                     changes={"name": attachment.name})  # fmt: skip
        storage, path = attachment.file.storage, attachment.file.name
        attachment.delete()
        transaction.on_commit(lambda: storage.delete(path))
