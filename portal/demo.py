"""Demo users, one per role. Their passwords are for development only."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from portal.roles import APPROVERS, DEVELOPERS, PLATFORM_ADMINS

DEMO_USERS = [
    # username, password, first name, last name, roles
    ("developer", "bridge-demo", "Dana", "Developer", [DEVELOPERS]),
    ("approver", "bridge-demo", "Alex", "Approver", [DEVELOPERS, APPROVERS]),
    ("admin", "bridge-demo", "Ada", "Admin", [DEVELOPERS, APPROVERS, PLATFORM_ADMINS]),
]


def seed(log) -> None:
    User = get_user_model()
    for username, password, first, last, roles in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(*Group.objects.filter(name__in=roles))
        log(f"user {username}: {'created' if created else 'already present'} ({', '.join(roles)})")
