from django.core.management.base import BaseCommand, CommandError

from catalog import services


class Command(BaseCommand):
    help = (
        "Import Backstage catalog files: each PATH is a YAML file or a folder (every catalog-info.yaml below it). "
        "Re-running with unchanged files changes nothing; entities gone from these files are marked orphaned."
    )
    # The import needs neither URLs, templates nor admin: the system checks (which load all of them)
    # were a fifth of an unchanged re-import's time. ``manage.py check`` still runs them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--roots-only", action="store_true", help="Refuse paths outside CATALOG_IMPORT_ROOTS, like the web does."
        )

    def handle(self, *args, paths, roots_only, **options):
        result = services.catalog_import_paths(paths=paths, restrict_to_roots=roots_only)
        for problem in result.problems:
            self.stderr.write(f"problem: {problem}")
        self.stdout.write(f"{len(result.files)} file(s): {result.summary()}")
        if result.problems and not (result.created or result.updated or result.unchanged):
            raise CommandError("Nothing was imported.")
