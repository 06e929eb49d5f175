"""The incident itself: started from a runbook and worked through step by step, or opened and
resolved by alerts; its postmortem links; and what other apps hear of it (``portal.events``).

The Alertmanager receiver (``incidents.services``) calls the ``incident_*_alert*`` functions here."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from catalog.models import Entity
from incidents import permissions
from incidents.models import Incident, IncidentStep, Outcome, Severity
from knowledge import permissions as knowledge_permissions
from knowledge.models import Page, PageKind
from knowledge.rendering import task_steps
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


def _postmortems(incident_id: int):
    from knowledge.selectors import postmortems_of

    return postmortems_of(incident_id)


def _announce_incident(incident: Incident, *, new: bool = False) -> None:
    """Tell other apps (the pipelines' DORA metrics) about the incident, once committed. A ``new``
    incident has no postmortem yet, so none is looked for."""
    from portal.events import incident_changed

    postmortem = None if new else _postmortems(incident.pk).exclude(deployment_ref="").order_by("-pk").first()

    def send():
        incident_changed.send(
            sender=Incident,
            # "knowledge" since before incidents had their own app: pipelines keys its record by it.
            source="knowledge",
            external_id=str(incident.pk),
            title=incident.title,
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
    refusal = permissions.incident_start_refusal(actor, runbook, entity)
    if refusal is not None:
        raise PermissionDenied(refusal)
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
            action="incidents.incident.start",
            obj=incident,
            changes={"runbook": runbook.pk, "entity": entity.ref if entity else None, "severity": severity},
        )
        _announce_incident(incident, new=True)
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
            actor=actor, action="incidents.incident.step", obj=locked, changes={"step": number, "done": step.done}
        )
    return step


def incident_close(*, actor, incident: Incident, outcome: str, notes: str = "") -> Incident:
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
        audit_record(actor=actor, action="incidents.incident.close", obj=locked, changes={"outcome": outcome})
        _announce_incident(locked)
    return locked


# --- incidents opened by alerts (the ``incidents`` app calls these) ------------------------------


def incident_open_for_alert(
    *, entity: Entity, runbook: Page | None, severity: str, summary: str, started_at
) -> Incident:
    """Open an incident for a service because an alert fired. No person started it, so there is no
    permission to check; it starts when the alert started (DORA's recovery time counts from there).
    The caller holds the service's row lock, so two alerts never open two incidents."""
    if severity not in Severity.values:
        severity = Severity.SEV3
    incident = Incident.objects.create(
        runbook=runbook,
        revision=runbook.current_revision if runbook else None,
        entity=entity,
        severity=severity,
        summary=(summary or "").strip()[:300],
        started_by=None,
        started_at=started_at,
    )
    if runbook is not None:
        IncidentStep.objects.bulk_create(
            IncidentStep(incident=incident, number=i, text=text) for i, text in enumerate(task_steps(runbook.body), 1)
        )
    audit_record(
        actor=None,
        action="incidents.incident.start",
        obj=incident,
        changes={"runbook": runbook.pk if runbook else None, "entity": entity.ref, "severity": severity},
    )
    _announce_incident(incident, new=True)
    return incident


def incident_alert_started_earlier(*, incident: Incident, started_at) -> None:
    """An alert that joined the incident started before it: the incident starts then."""
    if started_at < incident.started_at:
        Incident.objects.filter(pk=incident.pk, started_at__gt=started_at).update(started_at=started_at)
        incident.started_at = started_at
        _announce_incident(incident)


def incident_resolve_from_alerts(*, incident: Incident, resolved_at, notes: str) -> Incident:
    """All of the incident's alerts resolved and the service resolves by itself: close it as
    resolved at the last alert's end, so recovery time is the alerts' real duration."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if not locked.is_open:
        return locked
    locked.closed_at = max(resolved_at, locked.started_at)
    locked.closed_by = None
    locked.outcome = Outcome.RESOLVED
    locked.outcome_notes = notes[:10000]
    locked.save()
    audit_record(actor=None, action="incidents.incident.close", obj=locked, changes={"outcome": "resolved"})
    _announce_incident(locked)
    return locked


# --- postmortems (pages of the knowledge base that name an incident) -----------------------------


def postmortem_link_check(actor, *, incident_id: int, deployment_ref: str) -> None:
    """May ``actor`` link a postmortem to incident ``incident_id``, naming ``deployment_ref`` as its
    cause? The knowledge base asks before it saves (``portal.extensions.postmortem_link_check``);
    raises ``PermissionDenied`` or ``ServiceError`` with the reason."""
    incident = Incident.objects.select_related("entity", "runbook__space").filter(pk=incident_id).first()
    if incident is None:
        raise ServiceError("There is no incident with that number.")
    if incident.runbook_id and not knowledge_permissions.can_read_space(actor, incident.runbook.space):
        raise PermissionDenied("You cannot link a postmortem to an incident you cannot see.")
    # A linked postmortem changes the incident's service's DORA figures (a deployment it names counts
    # as a failed change), so only those who may act for that service's team write one.
    if not permissions.can_act_for_incident(actor, incident):
        owner = incident.entity.owner_ref if incident.entity_id and incident.entity.owner_ref else "its team"
        raise PermissionDenied(
            f"Incident #{incident.pk} belongs to {owner}: only that team and Platform Admins link postmortems to it."
        )
    if deployment_ref:
        from portal.extensions import deployment_entities

        owners = deployment_entities(deployment_ref)
        if owners and incident.entity_id not in owners:
            where = incident.entity.ref if incident.entity_id else "no service"
            raise PermissionDenied(
                f"Deployment “{deployment_ref}” is not a deployment of the incident's service ({where}); "
                "a postmortem links only deployments of the incident's own service."
            )


def postmortems_changed(*, incident_ids) -> None:
    """A postmortem was linked, unlinked or names another deployment: tell the others again."""
    for incident in Incident.objects.filter(pk__in=[i for i in incident_ids if i]):
        _announce_incident(incident)
