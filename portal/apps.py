from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_role_groups(sender, **kwargs):
    from portal.services import role_groups_ensure

    role_groups_ensure()


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import signals  # noqa: F401  (connects the login audit handlers)

        post_migrate.connect(_ensure_role_groups, sender=self)
