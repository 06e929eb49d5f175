from django.core.management.base import BaseCommand
from django.db import transaction

from portal import demo
from portal.extensions import registry


class Command(BaseCommand):
    help = "Create demo users for each role and a little data in each app. Safe to run again."

    def handle(self, *args, **options):
        seeders = [(0, "portal", demo.seed)] + [
            (order, name, seeder) for name, (order, seeder) in registry.demo_seeders.items()
        ]
        for _order, _name, seeder in sorted(seeders, key=lambda item: (item[0], item[1])):
            with transaction.atomic():
                seeder(lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
