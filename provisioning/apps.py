from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from django.urls import reverse

        from portal.extensions import (
            HomePanel,
            register_demo_seeder,
            register_home_panel,
            register_readiness_check,
        )
        from portal.permissions import is_approver
        from provisioning import checks, demo, selectors, terraform  # noqa: F401  (checks registers itself)

        def my_environments(user) -> dict:
            items = [
                {
                    "url": reverse("provisioning:request", args=[r.pk]),
                    "label": r.name,
                    "meta": r.template.name,
                    "badge": r.get_state_display(),
                    "badge_style": r.state_badge,
                }
                for r in selectors.requests_of(user)[:5]
            ]
            return {
                "items": items,
                "more_url": reverse("provisioning:index") if items else None,
                "empty": "You have no environments. Request one from a template and follow its progress here.",
                "action_url": reverse("provisioning:index"),
                "action_label": "Request an environment",
            }

        def approvals_waiting(user) -> dict:
            if not is_approver(user):
                return {"items": [], "empty": "Only Approvers review requests. Nothing needs you here."}
            items = [
                {
                    "url": reverse("provisioning:request", args=[r.pk]),
                    "label": r.name,
                    "meta": f"{r.template.name} · {r.requester.get_username()}",
                }
                for r in selectors.approvals_for(user)[:5]
            ]
            return {
                "items": items,
                "more_url": reverse("provisioning:approvals") if items else None,
                "empty": "No requests are waiting for your approval.",
                "action_url": reverse("provisioning:approvals"),
                "action_label": "Open the approvals queue",
            }

        register_home_panel(
            HomePanel("my-environments", "My environments", "partials/panel_list.html", 20, my_environments)
        )
        register_home_panel(
            HomePanel("approvals", "Approvals waiting for me", "partials/panel_list.html", 30, approvals_waiting)
        )
        register_readiness_check("terraform", terraform.binary_problem)
        register_demo_seeder("provisioning", demo.seed, order=50)

        from portal.extensions import SearchProvider, register_search_provider
        from provisioning import search as provisioning_search

        register_search_provider(
            SearchProvider("templates", "Environment templates", 30, provisioning_search.search_templates)
        )
        register_search_provider(
            SearchProvider("environments", "Environments", 40, provisioning_search.search_environments)
        )
