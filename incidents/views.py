"""Thin views: the incident page's response panel, acknowledge/assign/note, Unrouted alerts."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from incidents import mapping, permissions, selectors, services
from knowledge.models import Incident
from portal.params import parse_int
from portal.services import ServiceError

UNROUTED_PER_PAGE = 50


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
    return get_object_or_404(Incident.objects.select_related("entity", "runbook"), pk=incident_id)


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
