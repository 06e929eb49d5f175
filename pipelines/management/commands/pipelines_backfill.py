"""Connect a repository's CI history and read it now: ``manage.py pipelines_backfill URL [--days N]``."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pipelines import permissions, services
from pipelines.management.commands._history import describe
from pipelines.models import HistoryState
from portal.services import ServiceError


class Command(BaseCommand):
    help = (
        "Connect a GitHub or GitLab repository (on a host with a Git integration) and read its last N days of "
        "workflow runs or pipelines, their jobs and its deployments, here and now. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("url", help="The repository's web URL, e.g. https://github.com/acme/payments")
        parser.add_argument(
            "--days", type=int, default=settings.PIPELINES_BACKFILL_DAYS, help="How far back (PIPELINES_BACKFILL_DAYS)"
        )
        parser.add_argument("--actor", default="", help="Username recorded in the audit log (a Platform Admin)")

    def handle(self, *args, url, days, actor, **options):
        user = self._actor(actor)
        try:
            repo = services.repository_connect(actor=user, url=url, days=days)
            result = services.repository_history_sync(repository_id=repo.pk)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(describe(result))
        if result.state == HistoryState.FAILED:
            raise CommandError(result.message)

    def _actor(self, username: str):
        users = get_user_model().objects.filter(is_active=True)
        user = users.filter(username=username).first() if username else None
        if user is None and not username:
            user = next((u for u in users.filter(is_superuser=True).order_by("pk")), None) or next(
                (u for u in users.order_by("pk") if permissions.can_manage_integrations(u)), None
            )
        if user is None or not permissions.can_manage_integrations(user):
            raise CommandError("Name a Platform Admin with --actor (the audit log records who connected it).")
        return user
