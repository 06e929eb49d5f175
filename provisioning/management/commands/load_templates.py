from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from provisioning import services


class Command(BaseCommand):
    help = (
        "Load environment templates from PROVISIONING_TEMPLATES_DIR (or --dir). Each template is validated; "
        "an invalid one is reported with its reason and its working version stays published."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help=f"the templates directory (default {settings.PROVISIONING_TEMPLATES_DIR})")

    def handle(self, *args, **options):
        directory = Path(options["dir"]).resolve() if options.get("dir") else settings.PROVISIONING_TEMPLATES_DIR
        results = services.templates_reload(directory=directory)
        if not results:
            self.stdout.write(self.style.WARNING(f"No templates found in {directory}."))
        rejected = 0
        for result in results:
            version = f"v{result.version}" if result.version else "no working version"
            line = f"{result.name}: {result.status} ({version})" + (f" — {result.message}" if result.message else "")
            if result.status == "rejected":
                rejected += 1
                self.stdout.write(self.style.ERROR(line))
            else:
                self.stdout.write(self.style.SUCCESS(line))
        if rejected:
            self.stderr.write(f"{rejected} template(s) rejected.")
