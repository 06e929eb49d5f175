from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents.views import incident_panel_context
        from portal.extensions import IncidentPanel, register_incident_panel

        register_incident_panel(IncidentPanel("response", "incidents/_panel.html", 10, incident_panel_context))
