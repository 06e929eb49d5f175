from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing in: OpenID Connect, password sign-in policy, sessions, client addresses.

    A part of the portal core with its own tables and migrations (label ``accounts``).
    """

    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and sign-in"

    def ready(self) -> None:
        from portal.accounts import signals  # noqa: F401  (sessions, access loss)
