"""Who may do what with alerts and incidents. Used by the HTML views and the API alike."""

from knowledge import permissions as knowledge
from portal.permissions import is_approver, is_platform_admin


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_start_incident(user, page, entity=None) -> bool:
    """Start an incident from a runbook. On a service: its owning team, Approvers and Platform
    Admins, since the team is paged and its DORA figures count it. Without a service: the
    runbook's editors, Approvers and Platform Admins."""
    return incident_start_refusal(user, page, entity) is None


def incident_start_refusal(user, page, entity=None) -> str | None:
    """Why ``user`` may not start an incident (a sentence for the person), or None when they may."""
    if not _signed_in(user):
        return "Sign in to start an incident."
    if page.kind != "runbook":
        return "Incidents are started from a runbook."
    if is_approver(user):  # Platform Admins are Approvers too
        return None
    if entity is not None:
        from catalog.selectors import entities_owned_by_user

        if entities_owned_by_user(user).filter(pk=entity.pk).exists():
            return None
        owner = entity.owner_ref or "no team"
        return (
            f"Only the team that owns {entity.ref} ({owner}), Approvers and Platform Admins can start "
            "an incident on it; ask them, or page its on-call."
        )
    if knowledge.can_edit_space(user, page.space):
        return None
    return "Only the runbook's team, Approvers and Platform Admins can start an incident from it."


def can_act_for_incident(user, incident) -> bool:
    """Speak for the incident's team (link postmortems and deployments to it): the team that owns
    its service, or without a service the runbook's editors; Platform Admins always."""
    if not _signed_in(user):
        return False
    if is_platform_admin(user):
        return True
    if incident.entity_id is not None:
        from catalog.selectors import entities_owned_by_user

        return entities_owned_by_user(user).filter(pk=incident.entity_id).exists()
    return incident.runbook_id is not None and knowledge.can_edit_space(user, incident.runbook.space)


def can_work_incident(user, incident) -> bool:
    """Check off steps and close: whoever started it, the runbook's editors, the service's team and
    Platform Admins."""
    if not _signed_in(user):
        return False
    if incident.started_by_id == user.pk or can_act_for_incident(user, incident):
        return True
    return incident.runbook_id is not None and knowledge.can_edit_space(user, incident.runbook.space)


def can_respond(user, incident) -> bool:
    """Acknowledge, assign, add notes: the team that owns the incident's service (for an incident
    of no service, whoever may work it through its runbook) and Platform Admins."""
    if not _signed_in(user):
        return False
    return incident.started_by_id == user.pk or can_act_for_incident(user, incident)


def can_see_unrouted_alerts(user) -> bool:
    """Alerts that name no service are for Platform Admins to route (labels or catalog)."""
    return _signed_in(user) and is_platform_admin(user)
