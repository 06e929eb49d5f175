from django.core.management.base import BaseCommand

from knowledge import services


class Command(BaseCommand):
    help = (
        "Render and store every page whose stored HTML is missing or from an older Bridge version, "
        "so its first reader does not wait. Safe to run at any time; pages already current are skipped."
    )

    def handle(self, *args, **options):
        count = services.pages_render_outdated()
        self.stdout.write(f"{count} page(s) rendered.")
