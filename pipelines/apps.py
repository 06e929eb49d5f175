from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"

    def ready(self) -> None:
        from django.urls import reverse
        from django.utils.timesince import timesince

        from portal.extensions import (
            EntityTab,
            HomePanel,
            register_demo_seeder,
            register_entity_tab,
            register_home_panel,
        )

        def recent_failures(user) -> dict:
            from pipelines import selectors

            items = [
                {
                    "label": f"{run.pipeline.repository.slug} · {run.name or run.pipeline.name} {run.label}",
                    "url": run.get_absolute_url(),
                    "meta": f"{run.branch} · {timesince(run.finished_at or run.created_at)} ago",
                    "badge": "failed",
                    "badge_style": "bad",
                }
                for run in selectors.recent_failures(limit=5)
            ]
            return {
                "items": items,
                "empty": "No recent pipeline failures. Pipelines appear here once a Platform Admin connects "
                "GitHub, GitLab or another CI.",
                "action_url": reverse("pipelines:index"),
                "action_label": "Open pipelines",
                "more_url": reverse("pipelines:index") if items else None,
            }

        def pipelines_tab(first, second) -> dict:
            # The registry passes the entity and the user; accept either order.
            from catalog.models import Entity
            from pipelines import selectors
            from pipelines.views import dashboard_context

            entity = first if isinstance(first, Entity) else second
            repositories = selectors.repositories_for_entities([entity])
            return {"entity": entity, **dashboard_context(repositories, with_metrics=False)}

        def seed(log) -> None:
            from pipelines.demo import seed as seed_pipelines

            seed_pipelines(log)

        register_home_panel(
            HomePanel("recent-failures", "Recent pipeline failures", "partials/panel_list.html", 40, recent_failures)
        )
        from catalog.models import SOFTWARE_KINDS

        register_entity_tab(
            EntityTab("pipelines", "Pipelines", "pipelines/tab.html", 30, pipelines_tab, kinds=SOFTWARE_KINDS)
        )
        register_demo_seeder("pipelines", seed, order=60)

        from pipelines import search as pipelines_search
        from portal.extensions import SearchProvider, register_search_provider

        register_search_provider(SearchProvider("pipelines", "Pipelines", 50, pipelines_search.search_pipelines))

        from catalog.scorecards import register_data_source
        from pipelines import scorecard_sources

        register_data_source("ci_success_rate_30d", scorecard_sources.ci_success_rate_30d)
        register_data_source("last_deployed_at", scorecard_sources.last_deployed_at)
        register_data_source("default_branch_run", scorecard_sources.default_branch_run)

        from pipelines.selectors import deployment_entity_ids, deployments_for_entity
        from portal.extensions import DeploymentSource, register_deployment_source

        register_deployment_source(DeploymentSource("pipelines", deployments_for_entity, deployment_entity_ids))

        from portal.events import incident_changed

        incident_changed.connect(_record_incident, dispatch_uid="pipelines-record-incident")


def _record_incident(sender, **kwargs):
    from pipelines.services import incident_from_event

    incident_from_event(**kwargs)
