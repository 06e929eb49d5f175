"""Catalog pages: the list, entity pages, create/edit, import and export. Thin: parse, call, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from catalog import graph as graph_layout
from catalog import permissions, selectors, services
from catalog.definitions import read_definition, template_forms
from catalog.filters import EntityFilterSet
from catalog.forms import DiscoveryForm, EntityForm, ImportForm, LocationForm, ScorecardForm
from catalog.models import (
    LEVEL_ORDER,
    SOFTWARE_KINDS,
    CatalogLocation,
    Discovery,
    Entity,
    LocationStatus,
    Scorecard,
    ScorecardResult,
)
from catalog.templatetags.catalog_tags import ref_url, source_label
from portal.extensions import entity_tabs
from portal.params import parse_int
from portal.services import PermissionDenied, ServiceError

BUILTIN_TABS = [("overview", "Overview"), ("relations", "Relations"), ("graph", "Dependencies"), ("yaml", "YAML")]
DEFINITION_TAB = ("definition", "Definition")


def _entity_or_404(kind: str, namespace: str, name: str) -> Entity:
    entity = selectors.entity_by_parts(kind, namespace, name)
    if entity is None:
        raise Http404("No such entity.")
    return entity


@login_required
def index(request):
    filterset = EntityFilterSet(request.GET, queryset=selectors.entity_list())
    queryset = filterset.qs
    version = selectors.catalog_version()
    counts = selectors.cached_counts(
        selectors.filter_key(request.GET),
        lambda: {"total": queryset.count(), "facets": selectors.facet_counts(queryset)},
        version=version,
    )
    params = request.GET.copy()
    params.pop("page", None)
    query = params.urlencode()

    def results_table() -> str:
        page = selectors.list_page(queryset, request.GET.get("page"), per_page=50, known_count=counts["total"])
        table_context = {"page": page, "facets": counts["facets"], "query": query, "request": request}
        return render_to_string("catalog/_results_table.html", table_context)

    context = {
        "filterset": filterset,
        "results_table": selectors.RESULTS_HTML.get(version, selectors.query_key(request.GET), results_table),
        "has_results": counts["total"] > 0,
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "ordering")),
        "kinds": selectors.kind_choices(),
        "selected_kinds": request.GET.getlist("kind"),
        "ordering": request.GET.get("ordering", ""),
        "can_create": permissions.can_create_entities(request.user),
        "can_delete_orphans": permissions.can_delete_orphans(request.user),
    }
    template = "catalog/_results.html" if request.htmx else "catalog/index.html"
    return render(request, template, context)


@login_required
def export(request):
    filterset = EntityFilterSet(request.GET, queryset=Entity.objects.all())
    response = StreamingHttpResponse(selectors.export_yaml(filterset.qs), content_type="application/yaml")
    response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
    return response


def _tabs(entity: Entity) -> list[tuple[str, str]]:
    """The tabs of this entity's page: the catalog's own, then the other apps' that apply to its kind."""
    tabs = list(BUILTIN_TABS)
    if entity.kind not in SOFTWARE_KINDS:  # people, teams, locations and templates have no dependencies
        tabs.remove(("graph", "Dependencies"))
    if entity.kind == "API":
        tabs.insert(1, DEFINITION_TAB)
    return tabs + [(tab.key, tab.title) for tab in entity_tabs(entity.kind)]


@login_required
def entity(request, kind: str, namespace: str, name: str):
    obj = _entity_or_404(kind, namespace, name)
    tabs = _tabs(obj)
    selected = request.GET.get("tab", "overview")
    if selected not in dict(tabs):
        selected = "overview"
    context = {
        "entity": obj,
        "tabs": tabs,
        "tab": selected,
        # The hint about tabs other parts of Bridge add: only where such tabs would apply.
        "extension_tabs_exist": bool(entity_tabs()) or obj.kind not in SOFTWARE_KINDS,
        "can_edit": permissions.can_edit_entity(request.user, obj),
        "can_delete": permissions.can_delete_entity(request.user, obj),
    }
    if selected == "overview":
        context["conflicts"] = list(obj.conflicts.only("source", "source_label", "document", "last_seen_at"))
        context["can_move"] = permissions.can_move_entity(request.user)
        if obj.kind == "User":
            context["can_claim"] = permissions.can_claim_catalog_user(request.user, obj)
            context["can_unlink"] = permissions.can_unlink_catalog_user(request.user, obj)
            context["can_link_accounts"] = permissions.can_link_portal_accounts(request.user)
        context["scorecard_results"] = list(obj.scorecard_results.select_related("scorecard").order_by("scorecard"))
        if obj.kind == "Template":
            context["template_parameters"] = template_forms(obj.spec)
        if obj.kind == "Group":
            context["team_scores"] = list(
                ScorecardResult.objects.filter(entity__owner_ref=obj.ref_key)
                .select_related("entity", "scorecard")
                .order_by("scorecard__name", "entity__name")[:200]
            )
    if selected in ("overview", "relations"):
        groups = selectors.relations_of(obj)
        context["relation_groups"] = groups
        context["groups_by_type"] = {g.type: g for g in groups}
    elif selected == "graph":
        data = selectors.dependency_graph(obj, depth=_int(request.GET.get("depth"), 2, 1, 4))
        context["graph"] = data
        context["svg"] = graph_layout.layout(data, ref_url)
        context["depth"] = _int(request.GET.get("depth"), 2, 1, 4)
    elif selected == "yaml":
        context["yaml"] = selectors.entity_yaml(obj)
    elif selected == "definition":
        context["definition"] = read_definition(obj.spec, name=obj.ref)
    else:
        tab = next(t for t in entity_tabs(obj.kind) if t.key == selected)
        extension_context = tab.context(request, obj)
        # The tab's names are also top-level (the knowledge and pipelines tabs read them so);
        # where a name clashes, the entity page's own value wins.
        context = {**extension_context, **context, "extension_tab": tab, "extension_context": extension_context}
    template = "catalog/_entity_tab.html" if request.htmx else "catalog/entity.html"
    return render(request, template, context)


def _int(raw, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(raw)))
    except (TypeError, ValueError):
        return default


@login_required
def entity_export(request, kind: str, namespace: str, name: str):
    obj = _entity_or_404(kind, namespace, name)
    response = StreamingHttpResponse(selectors.export_yaml(Entity.objects.filter(pk=obj.pk)))
    response["Content-Type"] = "application/yaml"
    response["Content-Disposition"] = f'attachment; filename="{obj.name}.yaml"'
    return response


@login_required
def create(request):
    if not permissions.can_create_entities(request.user):
        raise DjangoPermissionDenied(
            "You are in no team yet, so you cannot add entities. Ask a Platform Admin to add you to your team."
        )
    form = EntityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.entity_save(actor=request.user, document=form.document())
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{saved.display_name} was added to the catalog.")
            return redirect(saved)
    return render(request, "catalog/form.html", {"form": form, "entity": None})


@login_required
def edit(request, kind: str, namespace: str, name: str):
    obj = _entity_or_404(kind, namespace, name)
    if not permissions.can_edit_entity(request.user, obj):
        raise DjangoPermissionDenied("Only the owning team's members and Platform Admins may edit this entity.")
    form = EntityForm(request.POST or None, entity=obj)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.entity_save(actor=request.user, document=form.document(), entity=obj)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(saved)
    return render(request, "catalog/form.html", {"form": form, "entity": obj})


@login_required
@require_POST
def delete(request, kind: str, namespace: str, name: str):
    obj = _entity_or_404(kind, namespace, name)
    try:
        services.entity_delete(actor=request.user, entity=obj)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, f"{obj.ref} was deleted.")
    return redirect("catalog:index")


@login_required
def me(request):
    """The signed-in person's catalog User, or the ones they can claim, and their teams."""
    linked = selectors.catalog_user_of(request.user)
    context = {
        "linked": linked,
        "candidates": [] if linked else selectors.claimable_catalog_users(request.user),
        "teams": list(selectors.teams_of(request.user).order_by("name")) if linked else [],
        "can_unlink": bool(linked) and permissions.can_unlink_catalog_user(request.user, linked),
    }
    return render(request, "catalog/me.html", context)


def _account_action(request, kind: str, namespace: str, name: str, action, success: str):
    obj = _entity_or_404(kind, namespace, name)
    try:
        action(obj)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success.format(ref=obj.ref))
    return redirect("catalog:me" if request.POST.get("next") == "me" else obj.get_absolute_url())


@login_required
@require_POST
def account_claim(request, kind: str, namespace: str, name: str):
    return _account_action(
        request,
        kind,
        namespace,
        name,
        lambda obj: services.catalog_user_claim(actor=request.user, entity=obj),
        "Your account is now linked to {ref}: you belong to its teams.",
    )


@login_required
@require_POST
def account_link(request, kind: str, namespace: str, name: str):
    username = request.POST.get("username", "")
    return _account_action(
        request,
        kind,
        namespace,
        name,
        lambda obj: services.catalog_user_assign(actor=request.user, entity=obj, username=username),
        "The account is now linked to {ref}.",
    )


@login_required
@require_POST
def account_unlink(request, kind: str, namespace: str, name: str):
    return _account_action(
        request,
        kind,
        namespace,
        name,
        lambda obj: services.catalog_user_unlink(actor=request.user, entity=obj),
        "The account is no longer linked to {ref}.",
    )


@login_required
def orphans(request):
    """What "Delete orphans" would delete: every orphaned entity and where it came from."""
    page = Paginator(selectors.orphans(), 50).get_page(parse_int(request.GET.get("page")) or 1)
    return render(
        request,
        "catalog/orphans.html",
        {
            "page": page,
            "reviewed": services.orphans_digest() if page.paginator.count else "",
            "can_delete_orphans": permissions.can_delete_orphans(request.user),
        },
    )


@login_required
@require_POST
def delete_orphans(request):
    try:
        count = services.orphans_delete(actor=request.user, reviewed=request.POST.get("reviewed", ""))
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("catalog:orphans")
    messages.success(request, f"{count} orphaned entit{'y' if count == 1 else 'ies'} deleted.")
    return redirect("catalog:index")


@login_required
def sources(request):
    """Every source of the catalog: uploads per team, files, locations; what each owns and what it was refused."""
    query = request.GET.get("q", "").strip()[:200]
    page = Paginator(selectors.source_list(query), 50).get_page(parse_int(request.GET.get("page")) or 1)
    return render(request, "catalog/sources.html", {"page": page, "q": query, "query": f"q={query}" if query else ""})


@login_required
def source(request):
    """One source: the entities it owns, the copies it listed that another source owns, and the reverse."""
    key = request.GET.get("key", "")[:1000]
    if not selectors.source_exists(key) and key != "":
        raise Http404("No entity comes from this source, and none was refused from it.")
    entities = Entity.objects.filter(source=key).only(
        "kind", "namespace", "name", "title", "orphaned", "owner_ref", "updated_at"
    )
    page = Paginator(entities.order_by("kind", "namespace", "name"), 50).get_page(parse_int(request.GET.get("page")))
    conflicts = selectors.source_conflicts(key)
    return render(
        request,
        "catalog/source.html",
        {
            "key": key,
            "page": page,
            "refused": list(conflicts["refused"][:500]),
            "claimed": list(conflicts["claimed"][:500]),
            "query": urlencode({"key": key}),
            "can_move": permissions.can_move_entity(request.user),
        },
    )


@login_required
@require_POST
def move(request, kind: str, namespace: str, name: str):
    obj = _entity_or_404(kind, namespace, name)
    try:
        moved = services.entity_move(actor=request.user, entity=obj, source=request.POST.get("source", ""))
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{moved.ref} now belongs to {source_label(moved.source)}.")
    return redirect(obj.get_absolute_url())


@login_required
def import_view(request):
    if not permissions.can_import(request.user):
        raise DjangoPermissionDenied(
            "You are in no team yet, so you cannot import. Ask a Platform Admin to add you to your team."
        )
    result = None
    too_big = ""
    try:
        form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    except RequestDataTooBig:
        form = ImportForm(user=request.user)
        too_big = (
            "That is more text than a form can take. Save it as a file and upload it instead "
            f"(up to {services.upload_limit() // (1024 * 1024)} MB)."
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["path"].strip():
                if not permissions.can_import_from_server(request.user):
                    raise PermissionDenied("Only Platform Admins may import from the server's folders.")
                result = services.catalog_import_paths(paths=[data["path"].strip()], actor=request.user)
            elif data["file"]:
                upload = data["file"]
                if upload.size > services.upload_limit():
                    raise ServiceError(
                        f"The file is larger than the limit of {services.upload_limit() // (1024 * 1024)} MB."
                    )
                result = services.catalog_import_text(
                    text=upload.read(), name=data["name"] or upload.name, actor=request.user, team=data["team"]
                )
            else:
                result = services.catalog_import_text(
                    text=data["text"], name=data["name"] or "pasted", actor=request.user, team=data["team"]
                )
        except ServiceError as exc:  # PermissionDenied among them: a team the person is not in
            form.add_error(None, str(exc))
    return render(
        request,
        "catalog/import.html",
        {
            "form": form,
            "result": result,
            "can_import_from_server": permissions.can_import_from_server(request.user),
            "too_big": too_big,
            "limit_mb": services.upload_limit() // (1024 * 1024),
        },
    )


# --- scorecards ---------------------------------------------------------------------


def _distribution(rows) -> dict:
    counts = dict.fromkeys([*LEVEL_ORDER, ""], 0)
    for level, n in rows:
        counts[level] = n
    return [(level or "none", counts[level]) for level in [*LEVEL_ORDER, ""]]


@login_required
def scorecards(request):
    rows = ScorecardResult.objects.values_list("scorecard_id", "level").annotate(n=Count("id")).order_by()
    by_card: dict[int, list] = {}
    for card_id, level, n in rows:
        by_card.setdefault(card_id, []).append((level, n))
    cards = [(card, _distribution(by_card.get(card.pk, []))) for card in Scorecard.objects.all()]
    return render(
        request,
        "catalog/scorecards.html",
        {"cards": cards, "can_manage": permissions.can_manage_scorecards(request.user)},
    )


@login_required
def scorecard_detail(request, pk: int):
    card = get_object_or_404(Scorecard, pk=pk)
    rows = card.results.values_list("level").annotate(n=Count("id")).order_by()
    level = request.GET.get("level", "")
    results = card.results.select_related("entity").order_by("level", "entity__name")
    if level:
        results = results.filter(level="" if level == "none" else level)
    page = Paginator(results, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/scorecard.html",
        {
            "card": card,
            "distribution": _distribution(rows),
            "page": page,
            "level": level,
            "query": f"level={level}" if level else "",
            "can_manage": permissions.can_manage_scorecards(request.user),
        },
    )


def _scorecard_form(request, card: Scorecard | None):
    if not permissions.can_manage_scorecards(request.user):
        raise DjangoPermissionDenied("Only Platform Admins define scorecards.")
    from catalog.scorecards import CHECKS, format_rules

    initial = None
    if card is not None:
        initial = {
            "name": card.name,
            "description": card.description,
            "applies_to_kind": card.applies_to_kind,
            "applies_to_type": card.applies_to_type,
            "applies_to_tag": card.applies_to_tag,
            "rules": format_rules(card.rules),
        }
    form = ScorecardForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.scorecard_save(
                actor=request.user,
                scorecard=card,
                name=data["name"],
                description=data["description"],
                applies_to_kind=data["applies_to_kind"],
                applies_to_type=data["applies_to_type"],
                applies_to_tag=data["applies_to_tag"],
                rules_text=data["rules"],
            )
        except ServiceError as exc:
            form.add_error("rules" if "line" in str(exc) or "rule" in str(exc) else None, str(exc))
        else:
            messages.success(request, f"Scorecard {saved.name} saved and scored.")
            return redirect("catalog:scorecard", pk=saved.pk)
    return render(request, "catalog/scorecard_form.html", {"form": form, "card": card, "checks": CHECKS.values()})


@login_required
def scorecard_create(request):
    return _scorecard_form(request, None)


@login_required
def scorecard_edit(request, pk: int):
    return _scorecard_form(request, get_object_or_404(Scorecard, pk=pk))


@login_required
@require_POST
def scorecard_recompute(request, pk: int):
    card = get_object_or_404(Scorecard, pk=pk)
    if not permissions.can_manage_scorecards(request.user):
        raise DjangoPermissionDenied("Only Platform Admins recompute scorecards.")
    count = services.scorecards_evaluate(scorecard_ids=[card.pk])
    messages.success(request, f"{count} entities scored.")
    return redirect("catalog:scorecard", pk=card.pk)


@login_required
@require_POST
def scorecard_delete(request, pk: int):
    card = get_object_or_404(Scorecard, pk=pk)
    try:
        services.scorecard_delete(actor=request.user, scorecard=card)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, f"Scorecard {card.name} deleted.")
    return redirect("catalog:scorecards")


# --- Git locations -----------------------------------------------------------------------------


@login_required
def locations(request):
    """Every Git location and discovery; Platform Admins register new ones here."""
    can_manage = permissions.can_manage_locations(request.user)
    form = LocationForm(request.POST if request.method == "POST" and "add-location" in request.POST else None)
    discovery_form = DiscoveryForm(
        request.POST if request.method == "POST" and "add-discovery" in request.POST else None
    )
    if request.method == "POST":
        if not can_manage:
            raise DjangoPermissionDenied("Only Platform Admins register locations and discoveries.")
        if "add-location" in request.POST and form.is_valid():
            try:
                location, outcome = services.location_add(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Location {location.display} registered: {outcome.summary()}.")
                return redirect(location)
        elif "add-discovery" in request.POST and discovery_form.is_valid():
            try:
                discovery, scan = services.discovery_add(actor=request.user, **discovery_form.cleaned_data)
            except ServiceError as exc:
                discovery_form.add_error(None, str(exc))
            else:
                messages.success(request, f"Discovering {discovery.owner}: {scan.summary()}.")
                return redirect("catalog:locations")
    queryset = selectors.location_list(request.GET.get("q", ""), request.GET.get("status", ""))
    page = Paginator(queryset, 50).get_page(parse_int(request.GET.get("page")) or 1)
    context = {
        "page": page,
        "q": request.GET.get("q", ""),
        "status": request.GET.get("status", ""),
        "statuses": LocationStatus.choices,
        "form": form,
        "discovery_form": discovery_form,
        "discoveries": selectors.discovery_list(),
        "sweep": selectors.last_sweep(),
        "can_manage": can_manage,
        "refresh_minutes": max(1, settings.CATALOG_LOCATION_REFRESH_SECONDS // 60),
    }
    return render(request, "catalog/locations.html", context)


def _location_or_404(pk: int) -> CatalogLocation:
    location = CatalogLocation.objects.select_related("discovery").filter(pk=pk).first()
    if location is None:
        raise Http404("No such location.")
    return location


@login_required
def location(request, pk: int):
    obj = _location_or_404(pk)
    entities = selectors.entities_of_location(obj)
    page = Paginator(entities, 50).get_page(parse_int(request.GET.get("page")) or 1)
    context = {
        "location": obj,
        "targets": sorted((obj.files or {}).items()),
        "conflicts": selectors.location_conflicts(obj),
        "page": page,
        "can_manage": permissions.can_manage_locations(request.user),
        "can_refresh": permissions.can_refresh_location(request.user),
    }
    return render(request, "catalog/location.html", context)


@login_required
@require_POST
def location_refresh(request, pk: int):
    obj = _location_or_404(pk)
    if not permissions.can_refresh_location(request.user):
        raise DjangoPermissionDenied("You are in no team yet, so you cannot refresh locations.")
    outcome = services.location_refresh(location=obj)
    if outcome.status in ("error", "deferred"):
        # A warning, not an error: the read ran (and its failure is recorded on the location).
        messages.warning(request, f"Could not read {obj.display}: {outcome.error}")
    else:
        messages.success(request, f"Read {obj.display}: {outcome.summary()}.")
    return redirect(obj)


@login_required
@require_POST
def location_remove(request, pk: int):
    obj = _location_or_404(pk)
    try:
        orphaned = services.location_remove(actor=request.user, location=obj)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc))
    messages.success(request, f"Removed {obj.display}; {len(orphaned)} entities are orphaned.")
    return redirect("catalog:locations")


@login_required
@require_POST
def discovery_scan(request, pk: int):
    discovery = Discovery.objects.filter(pk=pk).first()
    if discovery is None:
        raise Http404("No such discovery.")
    if not permissions.can_manage_locations(request.user):
        raise DjangoPermissionDenied("Only Platform Admins scan discoveries.")
    scan = services.discovery_scan(discovery=discovery)
    (messages.warning if scan.error else messages.success)(request, f"{discovery.owner}: {scan.summary()}.")
    return redirect("catalog:locations")
