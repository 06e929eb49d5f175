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


def _postmortems_changed(sender, incident_ids, **kwargs):
    from incidents.lifecycle import postmortems_changed

    postmortems_changed(incident_ids=incident_ids)


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from catalog.models import SOFTWARE_KINDS
        from catalog.scorecards import register_data_source
        from incidents import demo, lifecycle, views
        from incidents.selectors import firing_counts
        from portal.events import postmortems_changed
        from portal.extensions import (
            EntityTab,
            HomePanel,
            IncidentPanel,
            PagePanel,
            register_demo_seeder,
            register_entity_tab,
            register_home_panel,
            register_incident_panel,
            register_page_panel,
            register_postmortem_link_check,
        )
        from portal.permissions import is_platform_admin

        incident_panel_context = views.incident_panel_context
        # The knowledge base shows incidents without importing this app: panels on its pages, the
        # postmortem link check, and the event it sends when postmortems change.
        register_page_panel(
            PagePanel("incidents", "incidents/_runbook_panel.html", 10, views.runbook_panel_context, ("runbook",))
        )
        register_page_panel(
            PagePanel(
                "postmortem-of", "incidents/_postmortem_panel.html", 10, views.postmortem_panel_context,
                ("postmortem",), place="header",
            )
        )  # fmt: skip
        register_page_panel(
            PagePanel("open-incidents", "incidents/_open_incidents_panel.html", 10, views.open_incidents_panel_context,
                      ("index",))
        )  # fmt: skip
        register_postmortem_link_check(lifecycle.postmortem_link_check)
        register_demo_seeder("incidents", demo.seed, order=65)  # after the knowledge base's runbooks
        postmortems_changed.connect(_postmortems_changed, dispatch_uid="incidents-postmortems-changed")
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
