from django.core.management.base import BaseCommand, CommandError

from catalog import services
from catalog.models import CatalogLocation
from portal.services import ServiceError


class Command(BaseCommand):
    help = (
        "Catalog locations in Git repositories. "
        "add URL | add --repository CLONE_URL --ref REF --path PATH | list | refresh (ID | --all) | remove ID"
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="{add,list,refresh,remove}")
        add = commands.add_parser("add", help="Register a GitHub/GitLab file URL, or a repository, ref and path")
        add.add_argument("url", nargs="?", default="", help="https://github.com/OWNER/REPO/blob/REF/PATH")
        add.add_argument("--repository", default="", metavar="CLONE_URL")
        add.add_argument("--ref", default="", help="branch, tag or commit")
        add.add_argument("--path", default="", help="path of the catalog file in the repository")
        commands.add_parser("list", help="Every location with its state")
        refresh = commands.add_parser("refresh", help="Read a location (or all of them) again")
        refresh.add_argument("id", nargs="?", type=int)
        refresh.add_argument("--all", action="store_true", help="every location (conditional: unchanged costs nothing)")
        remove = commands.add_parser("remove", help="Unregister a location; its entities are orphaned")
        remove.add_argument("id", type=int)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None

    def _location(self, pk) -> CatalogLocation:
        location = CatalogLocation.objects.filter(pk=pk).first()
        if location is None:
            raise CommandError(f"There is no location {pk}; `catalog_location list` shows them.")
        return location

    def _report(self, location: CatalogLocation, outcome) -> None:
        self.stdout.write(f"{location.pk}\t{location.display}\t{outcome.summary()}")
        for problem in outcome.problems:
            self.stderr.write(f"problem: {problem.get('file')}: {problem.get('field') or ''} {problem.get('reason')}")
        for conflict in outcome.conflicts:
            self.stderr.write(f"conflict: {conflict}")

    def _add(self, url, repository, ref, path, **options):
        location, outcome = services.location_add(actor=None, url=url, repository=repository, ref=ref, path=path)
        self._report(location, outcome)
        if outcome.status == "error":
            raise CommandError(f"Location {location.pk} was registered but could not be read: {outcome.error}")

    def _list(self, **options):
        locations = CatalogLocation.objects.order_by("pk")
        if not locations.exists():
            self.stdout.write("No locations yet; add one with `catalog_location add URL`.")
            return
        for location in locations:
            when = location.refreshed_at.isoformat(timespec="seconds") if location.refreshed_at else "never"
            state = location.get_status_display() + (f": {location.error}" if location.error else "")
            self.stdout.write(f"{location.pk}\t{location.display}\t{location.host}\tread {when}\t{state}")

    def _refresh(self, id, all, **options):
        if all == (id is not None):
            raise CommandError("Give a location id, or --all.")
        if all:
            sweep = services.locations_refresh_all()
            self.stdout.write(f"{sweep.checked} checked, {sweep.changed} changed, {sweep.failed} failed")
            return
        location = self._location(id)
        self._report(location, services.location_refresh(location=location))

    def _remove(self, id, **options):
        location = self._location(id)
        orphaned = services.location_remove(actor=None, location=location)
        self.stdout.write(f"Removed location {id}; {len(orphaned)} entities orphaned.")
