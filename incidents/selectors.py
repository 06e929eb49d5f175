"""Reads for the incident pages, the Unrouted alerts list and the service's alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from incidents.models import Alert, AlertStatus, Incident, Response, TimelineEntry


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    text: str
    actor: str = ""


def timeline(incident) -> list[TimelineItem]:
    """The incident's story: its own entries (alerts, acknowledgement, assignment, notes,
    resolution) merged with the runbook steps ticked and the start and close of the incident."""
    items = [
        TimelineItem(e.at, e.get_kind_display(), e.text, e.actor.get_username() if e.actor else "")
        for e in TimelineEntry.objects.filter(incident=incident).select_related("actor")
    ]
    if incident.started_by_id:
        items.append(
            TimelineItem(incident.started_at, "Opened", "Started from the runbook", incident.started_by.get_username())
        )
    for step in incident.steps.filter(done=True).select_related("done_by"):
        items.append(
            TimelineItem(
                step.done_at,
                "Step done",
                f"{step.number}. {step.text}",
                step.done_by.get_username() if step.done_by else "",
            )
        )
    if incident.closed_at and incident.closed_by_id:
        items.append(
            TimelineItem(
                incident.closed_at, "Closed", incident.get_outcome_display(), incident.closed_by.get_username()
            )
        )
    return sorted(items, key=lambda i: i.at)


def alerts_of_incident(incident) -> QuerySet[Alert]:
    return Alert.objects.filter(incident=incident).order_by("status", "-starts_at")


def response_of(incident) -> Response | None:
    return Response.objects.select_related("acknowledged_by", "assignee").filter(incident=incident).first()


def suspect_deployments(incident) -> list:
    """The service's deployments in the window before the first alert (or the start), newest first;
    the newest is the suspect."""
    if incident.entity_id is None:
        return []
    from portal.extensions import deployments_of

    first = Alert.objects.filter(incident=incident).order_by("starts_at").values_list("starts_at", flat=True).first()
    start = min(first, incident.started_at) if first else incident.started_at
    return deployments_of(
        incident.entity_id, start - timedelta(seconds=settings.INCIDENTS_SUSPECT_WINDOW_SECONDS), start
    )


def unrouted_alerts() -> QuerySet[Alert]:
    return Alert.objects.filter(entity__isnull=True).select_related("receiver").order_by("-received_at", "-pk")


def firing_alerts_of(entity) -> QuerySet[Alert]:
    return Alert.objects.filter(entity=entity, status=AlertStatus.FIRING).order_by("-starts_at")


def resolved_alerts_of(entity, *, since) -> QuerySet[Alert]:
    return Alert.objects.filter(entity=entity, status=AlertStatus.RESOLVED, ends_at__gte=since).order_by("-ends_at")


def incidents_of(entity, *, since):
    return Incident.objects.filter(entity=entity, started_at__gte=since).order_by("-started_at")


def firing_counts(entities) -> dict[int, int]:
    """Firing alerts per entity, for the home page's "My services" panel (one query)."""
    from django.db.models import Count

    rows = (
        Alert.objects.filter(entity__in=[e.pk for e in entities], status=AlertStatus.FIRING)
        .values("entity_id")
        .annotate(n=Count("id"))
    )
    return {row["entity_id"]: row["n"] for row in rows}


# --- incidents (their windows are DORA's input) ----------------------------------------


@dataclass(frozen=True)
class IncidentWindow:
    incident_id: int
    entity_id: int | None
    severity: str
    started_at: datetime
    ended_at: datetime | None  # None while still open
    outcome: str


def incidents_for_entities(
    *, entity_ids: list[int] | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[IncidentWindow]:
    """Incidents per entity with their start and end, oldest first: the input for DORA's
    change-failure rate and time to restore service."""
    qs = Incident.objects.all()
    if entity_ids is not None:
        qs = qs.filter(entity_id__in=entity_ids)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return [
        IncidentWindow(
            incident_id=row["id"],
            entity_id=row["entity_id"],
            severity=row["severity"],
            started_at=row["started_at"],
            ended_at=row["closed_at"],
            outcome=row["outcome"],
        )
        for row in qs.order_by("started_at").values("id", "entity_id", "severity", "started_at", "closed_at", "outcome")
    ]


def incidents() -> QuerySet[Incident]:
    return Incident.objects.select_related("runbook", "runbook__space", "entity", "started_by").order_by("-started_at")
