from django.core.management.base import BaseCommand, CommandError

from provisioning import runs, services
from provisioning.models import EnvironmentRequest, RequestState


class Command(BaseCommand):
    help = (
        "Check active environments for drift now, in this process (Kubernetes objects against what Bridge "
        "applied, and terraform plan), and print what differs. --request N checks one environment."
    )

    def add_arguments(self, parser):
        parser.add_argument("--request", type=int, help="the request id of the environment to check")

    def handle(self, *args, **options):
        if options.get("request") is not None:
            request = EnvironmentRequest.objects.filter(pk=options["request"]).first()
            if request is None:
                raise CommandError(f"No request {options['request']}.")
            if request.state != RequestState.ACTIVE:
                raise CommandError(f"Request {request.pk} ({request.name}) is {request.state}; only active ones drift.")
            ids = [[request.pk]]
        else:
            ids = services._ids_in_chunks(EnvironmentRequest.objects.filter(state=RequestState.ACTIVE), 200)
        drifted = checked = 0
        for chunk in ids:
            for request in EnvironmentRequest.objects.filter(pk__in=chunk).order_by("pk"):
                result = runs.check_drift(request.pk)
                checked += 1
                if "skipped" in result:
                    self.stdout.write(f"{request.name} (#{request.pk}): skipped: {result['skipped']}")
                    continue
                request.refresh_from_db()
                if not request.is_drifted:
                    self.stdout.write(f"{request.name} (#{request.pk}): in sync")
                    continue
                drifted += 1
                self.stdout.write(self.style.WARNING(f"{request.name} (#{request.pk}): drifted"))
                for difference in request.drift.get("kubernetes", []):
                    self.stdout.write(f"  kubernetes: {difference}")
                if request.drift.get("terraform") in ("changes", "error"):
                    self.stdout.write(f"  terraform ({request.drift['terraform']}):")
                    for line in request.drift.get("terraform_detail", "").splitlines()[:40]:
                        self.stdout.write(f"    {line}")
        self.stdout.write(f"{checked} environment(s) checked, {drifted} drifted.")
