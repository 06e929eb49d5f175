"""Who may do what with alerts and incidents. Used by the HTML views and the API alike."""

from portal.permissions import is_platform_admin


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_respond(user, incident) -> bool:
    """Acknowledge, assign, add notes: the team that owns the incident's service (for an incident
    of no service, whoever may work it through its runbook) and Platform Admins."""
    if not _signed_in(user):
        return False
    from knowledge.permissions import can_act_for_incident

    return incident.started_by_id == user.pk or can_act_for_incident(user, incident)


def can_see_unrouted_alerts(user) -> bool:
    """Alerts that name no service are for Platform Admins to route (labels or catalog)."""
    return _signed_in(user) and is_platform_admin(user)
