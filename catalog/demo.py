"""Demo catalog for ``seed_demo``: a team, its people and a few services."""

from django.contrib.auth import get_user_model

from catalog import services


def seed(log) -> None:
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["developer", "approver", "admin"])}
    created = services.demo_catalog_ensure(users=users)
    log(f"catalog: {created} demo entities created" if created else "catalog: demo entities already present")
