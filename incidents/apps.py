from django.apps import AppConfig

TAB_INCIDENT_DAYS = 90
TAB_RESOLVED_DAYS = 7
TAB_ROWS = 20


def alerts_tab_context(*args) -> dict:
    """The entity page's Alerts tab: firing and recently resolved alerts, incidents of 90 days."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog.models import Entity
    from incidents import selectors

    entity = next((a for a in args if isinstance(a, Entity)), None)
    if entity is None:
        return {"firing": [], "resolved": [], "recent_incidents": []}
    now = timezone.now()
    return {
        "entity": entity,
        "firing": list(selectors.firing_alerts_of(entity).select_related("incident")[:TAB_ROWS]),
        "resolved": list(
            selectors.resolved_alerts_of(entity, since=now - timedelta(days=TAB_RESOLVED_DAYS)).select_related(
                "incident"
            )[:TAB_ROWS]
        ),
        "recent_incidents": list(
            selectors.incidents_of(entity, since=now - timedelta(days=TAB_INCIDENT_DAYS))[:TAB_ROWS]
        ),
    }


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from catalog.scorecards import register_data_source
        from incidents.selectors import firing_counts
        from incidents.views import incident_panel_context
        from portal.extensions import EntityTab, IncidentPanel, register_entity_tab, register_incident_panel

        register_incident_panel(IncidentPanel("response", "incidents/_panel.html", 10, incident_panel_context))
        register_entity_tab(EntityTab("alerts", "Alerts", "incidents/entity_alerts.html", 35, alerts_tab_context))
        register_data_source("firing_alerts", firing_counts)
