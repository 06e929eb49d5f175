"""Ask GitHub and GitLab what changed in every connected repository: ``manage.py pipelines_reconcile``."""

from django.core.management.base import BaseCommand

from pipelines import services
from pipelines.management.commands._history import describe
from pipelines.models import Repository


class Command(BaseCommand):
    help = (
        "Reconcile the history of connected repositories now (what the scheduler does every "
        "PIPELINES_RECONCILE_SECONDS): runs, jobs and deployments that changed since the last read, "
        "to catch webhook deliveries that never arrived. Repositories waiting for a rate limit are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repository", default="", help="Only this repository (owner/name or group/project)")

    def handle(self, *args, repository, **options):
        if repository:
            repo = Repository.objects.filter(slug=repository, history_connected=True).first()
            if repo is None:
                self.stderr.write(f"{repository} is not connected; connect it with pipelines_backfill first.")
                return
            results = [services.repository_history_sync(repository_id=repo.pk)]
        else:
            results = services.repositories_history_reconcile(inline=True)
        if not results:
            self.stdout.write("No repository is connected (pipelines_backfill URL connects one).")
        for result in results:
            self.stdout.write(describe(result))
