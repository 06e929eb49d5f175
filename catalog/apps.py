from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from django.urls import reverse

        from catalog import demo, selectors
        from portal.extensions import HomePanel, register_demo_seeder, register_home_panel, register_team_provider

        def my_services(user) -> dict:
            from catalog.scorecards import data_source

            entities = list(selectors.entities_owned_by_user(user).order_by("name")[:10])
            levels = selectors.scorecard_levels([e.pk for e in entities])
            runs_of = data_source("default_branch_run")  # filled by the pipelines app, if installed
            runs = runs_of(entities) if runs_of is not None and entities else {}
            alerts_of = data_source("firing_alerts")  # filled by the incidents app, if installed
            firing = alerts_of(entities) if alerts_of is not None and entities else {}
            return {
                "items": [
                    {
                        "label": e.display_name,
                        "url": reverse("catalog:entity", args=[e.kind, e.namespace, e.name]),
                        "meta": e.spec_type or e.kind,
                        "scorecards": levels.get(e.pk, []),
                        "pipeline": runs.get(e.pk),
                        "firing": firing.get(e.pk, 0),
                    }
                    for e in entities
                ],
                "empty": "None of your teams owns a service yet. Link your account to a catalog User in a team, "
                "or import your team's catalog-info.yaml.",
                "action_url": reverse("catalog:index"),
                "action_label": "Browse the catalog",
                "more_url": reverse("catalog:index") if entities else "",
            }

        register_home_panel(HomePanel("my-services", "My services", "catalog/home_services.html", 10, my_services))
        register_team_provider(lambda user: selectors.teams_of(user))
        from portal.extensions import register_idp_team_resolver

        register_idp_team_resolver(selectors.group_refs_for_idp_groups)
        register_demo_seeder("catalog", demo.seed, order=20)

        from catalog import search as catalog_search
        from portal.extensions import SearchProvider, register_search_provider

        register_search_provider(SearchProvider("catalog", "Catalog", 10, catalog_search.search_entities))

        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_link_catalog_user_at_sign_in, dispatch_uid="catalog-link-at-sign-in")

        from portal.events import git_pushed

        git_pushed.connect(_refresh_locations_on_push, dispatch_uid="catalog-refresh-on-push")


def _link_catalog_user_at_sign_in(sender, request, user, **kwargs) -> None:
    from catalog import services

    services.catalog_user_link_by_email(user=user)


def _refresh_locations_on_push(sender, host, repository, branch, paths=None, default_branch="", **kwargs) -> None:
    """A push to a branch (announced by another app after its commit): refresh the locations on it, in the worker."""
    if not branch:
        return
    from catalog.models import CatalogLocation
    from catalog.tasks import refresh_for_push

    if not CatalogLocation.objects.filter(host=host.lower(), repository__iexact=repository).exists():
        return
    refresh_for_push.delay(
        host=host, repository=repository, branch=branch, paths=paths, default_branch=default_branch or ""
    )
