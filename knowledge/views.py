"""Thin views: parse, call a service or selector, render."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from catalog.models import Entity
from knowledge import forms, permissions, selectors, services
from knowledge.mkdocs_project import SettingsRefused
from knowledge.models import Attachment, Page, PageKind, Revision, SiteBuild, Space
from knowledge.rendering import icons_dir, page_meta, render_markdown, resolve_links
from knowledge.templates_md import starting_text
from portal.params import parse_int
from portal.services import PermissionDenied, ServiceError

# Built sites hold text that was not sanitized (mkdocs passes raw HTML through), so they run
# sandboxed: an opaque origin that cannot use the portal's cookies or read its pages.
SPACES_PER_PAGE = 50
TREE_PAGES_PER_PAGE = 200
CHILDREN_PER_PAGE = 50

SITE_CSP = (
    "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox; "
    "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def _space(key: str) -> Space:
    return get_object_or_404(Space.objects.select_related("owner"), key=key)


def _page(key: str, slug: str):
    page = selectors.page_get(key, slug)
    if page is None:
        raise Http404("No such page.")
    return page


def _panels(request, kind: str, page) -> list:
    """What other apps show on this page (portal.extensions.PagePanel), with their context."""
    from portal.extensions import page_panels

    return [(panel, panel.context(request, page)) for panel in page_panels(kind)]


@login_required
def index(request):
    spaces = Paginator(selectors.spaces(), SPACES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/index.html",
        {
            "spaces": spaces,
            "recent": selectors.recently_edited(limit=10),
            "panels": _panels(request, "index", None),
        },
    )


SEARCH_PER_PAGE = 20


def _page_numbers(number: int, last: int) -> list[int | None]:
    """The first, the last and two either side of the current page; None where numbers are skipped."""
    shown = sorted({1, last, *range(max(1, number - 2), min(last, number + 2) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


@login_required
def search(request):
    q = request.GET.get("q", "")
    kind = request.GET.get("kind") or None
    if kind not in PageKind.values:
        kind = None
    entity = parse_int(request.GET.get("entity"))
    entities = list(selectors.search_entities())
    if entity is not None and all(e.pk != entity for e in entities):
        # Linked from a service with no pages (yet): keep it selectable, so the filter shows.
        extra = Entity.objects.filter(pk=entity).first()
        if extra is None:
            entity = None
        else:
            entities.append(extra)
    result_page = selectors.search_page(
        number=parse_int(request.GET.get("page")) or 1,
        per_page=SEARCH_PER_PAGE,
        query=q,
        space=request.GET.get("space") or None,
        kind=kind,
        tag=request.GET.get("tag") or None,
        entity=entity,
    )
    filters = {"q": q, "space": request.GET.get("space", ""), "kind": kind or "", "tag": request.GET.get("tag", "")}
    filters["entity"] = entity or ""
    context = {
        **filters,
        "hits": result_page.results.hits,
        "results": result_page.results,
        "result_page": result_page,
        "page_numbers": _page_numbers(result_page.number, result_page.num_pages),
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "kinds": PageKind.choices,
        "spaces": selectors.spaces(),
        "entities": entities,
    }
    template = "knowledge/_search_results.html" if request.htmx else "knowledge/search.html"
    return render(request, template, context)


@login_required
def space_create(request):
    form = forms.SpaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = services.space_create(
                actor=request.user,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                owner=form.cleaned_data["owner"],
                description=form.cleaned_data["description"],
                open_for_edit=form.cleaned_data["open_for_edit"],
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Space “{space.name}” created.")
            return redirect(space)
    return render(request, "knowledge/space_form.html", {"form": form, "heading": "New space"})


@login_required
def space_detail(request, key):
    space = _space(key)
    return render(
        request,
        "knowledge/space.html",
        {
            "space": space,
            "tree": Paginator(selectors.page_tree(space), TREE_PAGES_PER_PAGE).get_page(request.GET.get("page")),
            "can_edit": permissions.can_edit_space(request.user, space),
            "can_manage": permissions.can_manage_space(request.user, space),
            "last_build": SiteBuild.objects.filter(space=space).first(),
            "site_url": reverse("knowledge:space-site", args=[space.key])
            if (services.sites_dir() / space.key / "index.html").is_file()
            else "",
        },
    )


@login_required
def space_settings(request, key):
    space = _space(key)
    if not permissions.can_manage_space(request.user, space):
        raise DjangoPermissionDenied("Only the owning team or Platform Admins can change this space.")
    initial = {
        "name": space.name,
        "description": space.description,
        "owner": space.owner,
        "open_for_edit": space.open_for_edit,
    }
    form = forms.SpaceSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.space_update(actor=request.user, space=space, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Space settings saved.")
            return redirect(space)
    return render(request, "knowledge/space_form.html", {"form": form, "heading": f"Settings of {space.name}"})


@login_required
def page_create(request, key):
    space = _space(key)
    if not permissions.can_edit_space(request.user, space):
        raise DjangoPermissionDenied("This space belongs to another team.")
    kind = request.GET.get("kind", PageKind.ARTICLE)
    kind = kind if kind in PageKind.values else PageKind.ARTICLE
    title = request.GET.get("title", "")
    initial = {"kind": kind, "title": title, "body": starting_text(kind, title)}
    for name in ("parent", "incident"):
        value = parse_int(request.GET.get(name))
        if value is not None:
            initial[name] = value
    existing_postmortems = []
    if "incident" in initial:
        existing_postmortems = list(
            selectors.postmortems_of(initial["incident"]).select_related("space").order_by("-created_at")
        )
    form = forms.PageForm(request.POST or None, space=space, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            page = services.page_create(
                actor=request.user,
                space=space,
                title=data["title"],
                kind=data["kind"],
                body=data["body"] or None,
                parent=data["parent"],
                tags=data["tags"],
                entity_ids=[e.pk for e in data["entities"]],
                message=data["message"],
                incident=data["incident"],
                deployment_ref=data["deployment_ref"],
                position=data["position"],
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Page created.")
            return redirect(page)
    return render(
        request,
        "knowledge/page_form.html",
        {"form": form, "space": space, "page": None, "existing_postmortems": existing_postmortems},
    )


@login_required
def page_template(request):
    """htmx: the starting text of a page kind, for the editor when the kind changes on a new page."""
    kind = request.GET.get("kind", PageKind.ARTICLE)
    text = starting_text(kind if kind in PageKind.values else PageKind.ARTICLE, request.GET.get("title", ""))
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@login_required
def page_detail(request, key, slug):
    page = _page(key, slug)
    rendered = selectors.page_rendered(page)
    context = {
        "page": page,
        "space": page.space,
        "rendered": rendered,
        # Front matter: a description under the title; hide: [toc] hides "On this page".
        "meta": {"hide": [], **page_meta(page.body)},
        "crumbs": selectors.breadcrumbs(page),
        "children": Paginator(page.children.order_by("position", "title"), CHILDREN_PER_PAGE).get_page(
            request.GET.get("page")
        ),
        "tags": page.tags.all(),
        "entities": page.entities.all(),
        "can_edit": permissions.can_edit_space(request.user, page.space),
        "attachments": page.attachments.all(),
    }
    context["panels"] = _panels(request, page.kind, page)
    return render(request, "knowledge/page.html", context)


@login_required
def page_edit(request, key, slug):
    page = _page(key, slug)
    if not permissions.can_edit_space(request.user, page.space):
        raise DjangoPermissionDenied("This space belongs to another team.")
    initial = {
        "title": page.title,
        "kind": page.kind,
        "parent": page.parent,
        "position": page.position,
        "body": page.body,
        "tags": ", ".join(page.tags.values_list("name", flat=True)),
        "entities": list(page.entities.all()),
        "base_revision": page.current_revision_id,
        "incident": page.incident_id,
        "deployment_ref": page.deployment_ref,
    }
    form = forms.PageForm(request.POST or None, space=page.space, page=page, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.page_update(
                actor=request.user,
                page=page,
                title=data["title"],
                body=data["body"],
                base_revision_id=data["base_revision"],
                message=data["message"],
                tags=data["tags"],
                entity_ids=[e.pk for e in data["entities"]],
                parent=data["parent"],
                kind=data["kind"],
                incident=data["incident"],
                deployment_ref=data["deployment_ref"],
                position=data["position"],
            )
        except services.EditConflict as exc:
            conflict = exc
            form.add_error(None, str(exc))
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(page)
    status = 409 if conflict else 200
    return render(
        request, "knowledge/page_form.html", {"form": form, "space": page.space, "page": page, "conflict": conflict},
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def preview(request):
    """htmx: the Markdown of the editor rendered and sanitized, its links resolved in the space
    (and relative to the page) being edited, broken ones flagged as on the page itself."""
    body = request.POST.get("body", "")[: services.max_page_bytes()]
    rendered = render_markdown(body)
    key = request.POST.get("space", "")
    if not key:
        html = resolve_links(rendered.html, lambda kind, value: "#")
        return render(request, "knowledge/_preview.html", {"html": html})
    space = _space(key)
    if not permissions.can_read_space(request.user, space):
        raise DjangoPermissionDenied("This space belongs to another team.")
    slug = request.POST.get("page", "")
    page = selectors.page_get(key, slug) if slug else None
    if page is None:
        page = Page(space=space)
    html = selectors.resolve_page_links(page, rendered.html)
    return render(request, "knowledge/_preview.html", {"html": html})


@login_required
def page_history(request, key, slug):
    page = _page(key, slug)
    revisions = Paginator(selectors.history(page), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/history.html",
        {
            "page": page,
            "space": page.space,
            "revisions": revisions,
            "can_edit": permissions.can_edit_space(request.user, page.space),
        },
    )


@login_required
def page_revision(request, key, slug, number):
    page = _page(key, slug)
    revision = get_object_or_404(Revision, page=page, number=number)
    rendered = selectors.revision_rendered(revision.pk, revision.body)
    html = selectors.resolve_page_links(page, rendered.html)
    return render(
        request,
        "knowledge/revision.html",
        {
            "page": page,
            "space": page.space,
            "revision": revision,
            "html": html,
            "can_edit": permissions.can_edit_space(request.user, page.space),
        },
    )


@login_required
def page_diff(request, key, slug):
    page = _page(key, slug)
    latest = page.current_revision.number if page.current_revision else 1
    raw_a, raw_b = (request.GET.get(name, "").strip() for name in ("a", "b"))
    a_num = parse_int(raw_a) if raw_a else max(latest - 1, 1)
    b_num = parse_int(raw_b) if raw_b else latest
    if a_num is None or b_num is None:
        messages.error(request, f"Give two revision numbers to compare, from 1 to {latest}.")
        return redirect(page.url_for("page-history"))
    revs = {r.number: r for r in Revision.objects.filter(page=page, number__in=[a_num, b_num])}
    missing = [n for n in dict.fromkeys([a_num, b_num]) if n not in revs]
    if missing:
        names = " or ".join(str(n) for n in missing)
        messages.error(request, f"This page has no revision {names}: its revisions are numbered 1 to {latest}.")
        return redirect(page.url_for("page-history"))
    a, b = revs[a_num], revs[b_num]
    lines = services.unified_diff(a.body, b.body, old_label=f"revision {a.number}", new_label=f"revision {b.number}")
    return render(
        request,
        "knowledge/diff.html",
        {"page": page, "space": page.space, "a": a, "b": b, "lines": lines, "title_changed": a.title != b.title},
    )


@login_required
@require_POST
def page_revert(request, key, slug, number):
    page = _page(key, slug)
    revision = get_object_or_404(Revision, page=page, number=number)
    try:
        new = services.page_revert(actor=request.user, page=page, revision_id=revision.pk)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Reverted: revision {new.number} has the text of revision {number}.")
    return redirect(page)


@login_required
@require_POST
def page_delete(request, key, slug):
    page = _page(key, slug)
    space = page.space
    try:
        services.page_delete(actor=request.user, page=page)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect(page)
    messages.success(request, "Page deleted.")
    return redirect(space)


# --- mkdocs --------------------------------------------------------------------------------


@login_required
def space_export(request, key):
    space = _space(key)
    data = services.space_export_zip(actor=request.user, space=space)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{space.key}-mkdocs.zip"'
    return response


@login_required
def space_import(request, key):
    space = _space(key)
    if not permissions.can_manage_space(request.user, space):
        raise DjangoPermissionDenied("Only the owning team or Platform Admins can import into this space.")
    form = forms.ImportForm(request.POST or None, request.FILES or None)
    refusals = []
    if request.method == "POST" and form.is_valid():
        drop = form.cleaned_data["drop_refused"]
        try:
            if form.cleaned_data["archive"]:
                result = services.space_import_archive(
                    actor=request.user, space=space, archive=form.cleaned_data["archive"], drop_refused=drop
                )
            else:
                result = services.space_import_directory(
                    actor=request.user, space=space, directory=form.cleaned_data["directory"], drop_refused=drop
                )
        except SettingsRefused as exc:
            refusals = exc.refusals
            form.add_error(None, f"{len(refusals)} setting(s) of mkdocs.yml cannot be used; nothing was imported yet.")
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Imported: {result.created} new pages, {result.updated} updated, {result.unchanged} unchanged.",
            )
            if result.dropped:
                messages.warning(request, "Left out of mkdocs.yml: " + "; ".join(result.dropped) + ".")
            for feature, paths in result.unrendered.items():
                if not paths:  # an extension of mkdocs.yml: the whole project
                    messages.warning(request, f"{feature[:1].upper()}{feature[1:]} — set in mkdocs.yml.")
                    continue
                shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
                messages.warning(request, f"Not rendered: {feature} — in {shown}.")
            return redirect(space)
    return render(
        request,
        "knowledge/import.html",
        {
            "form": form,
            "space": space,
            "refusals": refusals,
            "can_use_server": permissions.can_import_from_server(request.user),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def space_build(request, key):
    space = _space(key)
    try:
        services.site_build_request(actor=request.user, space=space)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, "Build queued: the static site appears here when mkdocs has finished.")
    return redirect(space)


def _serve_built(root: Path, path: str):
    """A file of a built static site, confined to its folder, with a strict CSP."""
    root = root.resolve()
    target = (root / (path or "index.html")).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("Not in the built site.")
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    response = FileResponse(target.open("rb"), content_type=content_type)  # noqa: SIM115 (closed by Django)
    response["Content-Security-Policy"] = SITE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _open_built(root: Path, token: str, path: str):
    if not (root.resolve() / "index.html").is_file():
        raise Http404("This site has not been built yet.")
    return redirect(reverse("knowledge:site-file", args=[token, path or "index.html"]))


@login_required
def space_site(request, key, path):
    """The built static site of a space: on to its signed link, where the site's own requests work."""
    space = _space(key)
    return _open_built(services.sites_dir() / space.key, services.built_site_token(space=space), path)


@login_required
def service_docs(request, entity_id, path):
    """The built TechDocs-style docs of a catalog entity, through their signed link."""
    entity = get_object_or_404(Entity, pk=entity_id)
    return _open_built(services.service_docs_dir(entity.pk), services.built_site_token(entity_id=entity.pk), path)


_ICON_NAME = re.compile(r"(material|fontawesome|octicons|simple)/[a-z0-9][a-z0-9/_-]{0,200}\.svg")


def icon(request, name):
    """An icon of the sets mkdocs-material ships (``:material-check:`` in a page), served from
    the installed package: pages show icons without reaching out to any CDN."""
    folder = icons_dir()
    if folder is None or not _ICON_NAME.fullmatch(name) or ".." in name:
        raise Http404("No such icon.")
    target = (folder / name).resolve()
    if not target.is_relative_to(folder) or not target.is_file():
        raise Http404("No such icon.")
    response = FileResponse(target.open("rb"), content_type="image/svg+xml")  # noqa: SIM115 (closed by Django)
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=86400"
    return response


def built_site(request, token, path):
    """A file of a built site, by its signed link (no session: a sandboxed page sends no cookie)."""
    try:
        root = services.built_site_root(token)
    except ServiceError as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    response = _serve_built(root, path)
    # Its pages run in an opaque origin: their fetch of the search index is cross-origin.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
@require_POST
def service_docs_build(request, entity_id):
    entity = get_object_or_404(Entity, pk=entity_id)
    try:
        services.service_docs_build_request(actor=request.user, entity=entity)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, "Docs build queued: refresh in a moment.")
    return redirect(reverse("catalog:entity", args=[entity.kind, entity.namespace, entity.name]) + "#docs")


# --- attachments -----------------------------------------------------------------------------


@login_required
@require_POST
def attachment_upload(request, key, slug):
    page = _page(key, slug)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to attach.")
        return redirect(page)
    try:
        attachment = services.attachment_add(actor=request.user, page=page, upload=upload)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        link = f"![{attachment.name}]({attachment.get_absolute_url()})" if attachment.is_image else ""
        messages.success(request, f"Attached {attachment.name}. {('Show it with ' + link) if link else ''}".strip())
    return redirect(page)


@login_required
def attachment_file(request, key, slug, name):
    page = _page(key, slug)
    attachment = get_object_or_404(Attachment, page=page, name=name)
    as_attachment = not attachment.is_image
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment, attachment.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    return response


@login_required
@require_POST
def attachment_remove(request, key, slug, name):
    page = _page(key, slug)
    attachment = get_object_or_404(Attachment, page=page, name=name)
    try:
        services.attachment_delete(actor=request.user, attachment=attachment)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, f"Removed {name}.")
    return redirect(page)
