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


def unrouted_panel(user) -> dict:
    """Platform Admins' home panel: the newest alerts that named no service."""
    from django.urls import reverse

    from incidents import selectors

    alerts = list(selectors.unrouted_alerts()[:8])
    return {
        "items": [
            {
                "label": a.name or a.fingerprint,
                "url": reverse("incidents:unrouted"),
                "meta": f"{a.received_at:%Y-%m-%d %H:%M} · {a.get_status_display()}",
            }
            for a in alerts
        ],
        "empty": "No unrouted alerts: every alert so far named a service in the catalog.",
        "more_url": reverse("incidents:unrouted") if alerts else "",
    }


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from catalog.models import SOFTWARE_KINDS
        from catalog.scorecards import register_data_source
        from incidents.selectors import firing_counts
        from incidents.views import incident_panel_context
        from portal.extensions import (
            EntityTab,
            HomePanel,
            IncidentPanel,
            register_entity_tab,
            register_home_panel,
            register_incident_panel,
        )
        from portal.permissions import is_platform_admin

        register_incident_panel(IncidentPanel("response", "incidents/_panel.html", 10, incident_panel_context))
        register_entity_tab(
            EntityTab("alerts", "Alerts", "incidents/entity_alerts.html", 35, alerts_tab_context, kinds=SOFTWARE_KINDS)
        )
        register_data_source("firing_alerts", firing_counts)
        register_home_panel(
            HomePanel(
                "unrouted-alerts", "Unrouted alerts", "partials/panel_list.html", 60, unrouted_panel, is_platform_admin
            )
        )
