"""Thin views: the incident list and page (steps, close, the response panel), starting an incident
from a runbook, acknowledge/assign/note, Unrouted alerts."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Entity
from incidents import forms, lifecycle, mapping, permissions, selectors, services
from incidents.models import Incident
from knowledge import permissions as knowledge_permissions
from knowledge import selectors as knowledge_selectors
from portal.params import parse_int
from portal.services import PermissionDenied, ServiceError

UNROUTED_PER_PAGE = 50
INCIDENTS_PER_PAGE = 50
RUNBOOK_INCIDENTS_SHOWN = 20


def incident_panel_context(request, incident) -> dict:
    """What the incident page shows from this app (portal.extensions.IncidentPanel)."""
    deployments = selectors.suspect_deployments(incident)
    can_respond = permissions.can_respond(request.user, incident)
    assignable = []
    if can_respond and incident.is_open and incident.entity_id:
        from catalog.selectors import owner_team_members

        assignable = sorted(owner_team_members(incident.entity), key=lambda u: u.get_username())
    return {
        "response": selectors.response_of(incident),
        "alerts": list(selectors.alerts_of_incident(incident)[:100]),
        "timeline": selectors.timeline(incident),
        "deployments": deployments,
        "dashboards": mapping.dashboard_links(incident.entity),
        "can_respond": can_respond,
        "assignable": assignable,
        "window_hours": round(settings.INCIDENTS_SUSPECT_WINDOW_SECONDS / 3600, 1),
    }


def _incident(incident_id: int) -> Incident:
    return get_object_or_404(
        Incident.objects.select_related("runbook", "runbook__space", "entity", "started_by", "closed_by"),
        pk=incident_id,
    )


def runbook_panel_context(request, page) -> dict:
    """A runbook's "Start incident" form and its incidents (portal.extensions.PagePanel)."""
    incidents = page.incidents.select_related("entity", "started_by")
    return {
        "page": page,
        "incidents": incidents[:RUNBOOK_INCIDENTS_SHOWN],
        "incident_count": incidents.count(),
        "start_form": forms.IncidentStartForm(runbook=page),
    }


def postmortem_panel_context(request, page) -> dict:
    """The incident a postmortem is about (portal.extensions.PagePanel)."""
    return {"page": page}


def open_incidents_panel_context(request, page) -> dict:
    """The knowledge base's front page: the open incidents (portal.extensions.PagePanel)."""
    return {"open_incidents": selectors.incidents().filter(closed_at__isnull=True)[:10]}


def _act(request, incident, action, success: str):
    try:
        action()
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)
    return redirect(incident)


@login_required
@require_POST
def acknowledge(request, incident_id):
    incident = _incident(incident_id)
    return _act(
        request, incident, lambda: services.incident_acknowledge(actor=request.user, incident=incident), "Acknowledged."
    )


@login_required
@require_POST
def assign(request, incident_id):
    incident = _incident(incident_id)
    user_id = parse_int(request.POST.get("assignee"))
    assignee = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    return _act(
        request,
        incident,
        lambda: services.incident_assign(actor=request.user, incident=incident, assignee=assignee),
        f"Assigned to {assignee.get_username()}." if assignee else "",
    )


@login_required
@require_POST
def note(request, incident_id):
    incident = _incident(incident_id)
    text = request.POST.get("text", "")
    return _act(
        request,
        incident,
        lambda: services.incident_note(actor=request.user, incident=incident, text=text),
        "Note added to the timeline.",
    )


@login_required
def unrouted(request):
    if not permissions.can_see_unrouted_alerts(request.user):
        raise DjangoPermissionDenied("Unrouted alerts are for Platform Admins.")
    page = Paginator(selectors.unrouted_alerts(), UNROUTED_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "incidents/unrouted.html", {"page": page, "entity_labels": settings.INCIDENTS_ENTITY_LABELS})


@login_required
@require_POST
def start(request, key, slug):
    page = knowledge_selectors.page_get(key, slug)
    if page is None:
        raise Http404("No such runbook.")
    form = forms.IncidentStartForm(request.POST, runbook=page)
    if not form.is_valid():
        messages.error(request, "Choose a severity and, if any, one of the runbook's services.")
        return redirect(page)
    try:
        incident = lifecycle.incident_start(
            actor=request.user,
            runbook=page,
            entity=form.cleaned_data["entity"],
            severity=form.cleaned_data["severity"],
            summary=form.cleaned_data["summary"],
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect(page)
    return redirect(incident)


@login_required
def incident_list(request):
    incidents, query = selectors.incidents(), {}
    entity = parse_int(request.GET.get("entity"))
    entity = Entity.objects.filter(pk=entity).first() if entity is not None else None
    if entity is not None:
        incidents, query["entity"] = incidents.filter(entity=entity), entity.pk
    runbook_id, runbook = parse_int(request.GET.get("runbook")), None
    if runbook_id is not None:
        runbook = knowledge_selectors.runbook_get(runbook_id)
        if runbook is None:
            raise Http404("No such runbook.")
        incidents, query["runbook"] = incidents.filter(runbook=runbook), runbook.pk
    page = Paginator(incidents, INCIDENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/incidents.html",
        {"page": page, "entity": entity, "runbook": runbook, "query": urlencode(query)},
    )


def _steps_context(request, incident: Incident) -> dict:
    return {
        "incident": incident,
        "steps": incident.steps.select_related("done_by"),
        "can_work": permissions.can_work_incident(request.user, incident) and incident.is_open,
    }


@login_required
def detail(request, incident_id):
    incident = _incident(incident_id)
    context = _steps_context(request, incident)
    context["close_form"] = forms.IncidentCloseForm()
    postmortems = knowledge_selectors.postmortems_of(incident.pk).select_related("space")
    context["postmortems"] = postmortems.order_by("created_at")
    context["can_write_postmortem"] = incident.runbook_id is not None and knowledge_permissions.can_edit_space(
        request.user, incident.runbook.space
    )
    from portal.extensions import incident_panels

    context["panels"] = [(panel, panel.context(request, incident)) for panel in incident_panels()]
    return render(request, "incidents/incident.html", context)


@login_required
def steps(request, incident_id):
    """htmx: the steps as they are now, polled while the incident is open so every responder
    sees what the others checked off."""
    incident = _incident(incident_id)
    return render(request, "incidents/_steps.html", _steps_context(request, incident))


@login_required
@require_POST
def step(request, incident_id, number):
    incident = _incident(incident_id)
    error, status = "", 200
    try:
        step = lifecycle.incident_step_set(
            actor=request.user,
            incident=incident,
            number=number,
            done=request.POST.get("done") == "on",
            note=request.POST.get("note"),
        )
    except PermissionDenied as exc:
        if not request.htmx:
            raise DjangoPermissionDenied(str(exc))
        error, status = str(exc), 403
        step = get_object_or_404(incident.steps, number=number)
    except ServiceError as exc:
        error = str(exc)
        step = get_object_or_404(incident.steps, number=number)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident)
    incident.refresh_from_db(fields=["closed_at"])
    can_work = permissions.can_work_incident(request.user, incident) and incident.is_open
    return render(
        request,
        "incidents/_step.html",
        {"incident": incident, "step": step, "can_work": can_work, "error": error},
        status=status,
    )


@login_required
@require_POST
def close(request, incident_id):
    incident = _incident(incident_id)
    form = forms.IncidentCloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an outcome to close the incident.")
        return redirect(incident)
    try:
        lifecycle.incident_close(
            actor=request.user,
            incident=incident,
            outcome=form.cleaned_data["outcome"],
            notes=form.cleaned_data["notes"],
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Incident closed.")
    return redirect(incident)
