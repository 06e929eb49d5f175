"""``manage.py alert_receiver add NAME [--basic]`` prints the receiver's token once."""

from django.core.management.base import BaseCommand, CommandError

from incidents import services
from incidents.models import AlertReceiver
from portal.services import ServiceError


class Command(BaseCommand):
    help = "Manage Alertmanager receivers: add (prints the token once), rotate, list, disable."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Make a receiver and print its token once.")
        add.add_argument("name")
        add.add_argument("--basic", action="store_true", help="Basic auth (username = the name) instead of Bearer.")
        rotate = sub.add_parser("rotate", help="Give a receiver a new token and print it once.")
        rotate.add_argument("name")
        disable = sub.add_parser("disable", help="Refuse the receiver's notifications from now on.")
        disable.add_argument("name")
        sub.add_parser("list", help="List the receivers (never their tokens).")

    def handle(self, *args, action, **options):
        if action == "list":
            for r in AlertReceiver.objects.all():
                state = "enabled" if r.enabled else "disabled"
                self.stdout.write(f"{r.name}\t{r.auth}\t{state}\tlast used {r.last_used_at or 'never'}")
            return
        name = options["name"]
        if action == "add":
            auth = AlertReceiver.Auth.BASIC if options["basic"] else AlertReceiver.Auth.BEARER
            try:
                receiver, token = services.receiver_create(name=name, auth=auth)
            except ServiceError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Receiver “{receiver.name}” ({receiver.get_auth_display()}). Its token, shown once:")
            self.stdout.write(token)
            return
        receiver = AlertReceiver.objects.filter(name=name).first()
        if receiver is None:
            raise CommandError(f"No receiver named “{name}”.")
        if action == "rotate":
            self.stdout.write(services.receiver_rotate(receiver=receiver))
        elif action == "disable":
            AlertReceiver.objects.filter(pk=receiver.pk).update(enabled=False)
            self.stdout.write(f"Receiver “{name}” disabled.")
