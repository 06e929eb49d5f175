from django.core.management.base import BaseCommand

from provisioning import services


class Command(BaseCommand):
    help = (
        "Run the expiry sweep now (beat runs it every five minutes): warn environments whose warning is due, "
        "destroy the expired ones, hand over queued runs the broker never got, and take over or fail runs "
        "whose worker died."
    )

    def handle(self, *args, **options):
        counts = services.environments_sweep()
        relayed = services.runs_relay()
        reaped = services.runs_reap_dead()
        self.stdout.write(
            f"{counts['warned']} environment(s) warned, {counts['destroyed']} expired environment(s) being destroyed, "
            f"{relayed} queued run(s) handed to the broker, {reaped} run(s) without a worker taken over or failed."
        )
