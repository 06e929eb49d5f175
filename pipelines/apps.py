from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"

    def ready(self) -> None:
        from django.urls import reverse

        from portal.extensions import HomePanel, register_home_panel

        def recent_failures(user) -> dict:
            return {
                "items": [],
                "empty": "No recent pipeline failures. Pipelines appear here once a Platform Admin connects "
                "GitHub, GitLab or another CI.",
                "action_url": reverse("pipelines:index"),
                "action_label": "Open pipelines",
            }

        register_home_panel(
            HomePanel("recent-failures", "Recent pipeline failures", "partials/panel_list.html", 40, recent_failures)
        )
