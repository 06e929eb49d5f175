"""Reads of the catalog, used by this app and by the others."""

from django.db.models import QuerySet

from catalog.models import Entity, Kind


def teams_of(user) -> QuerySet[Entity]:
    """The catalog Groups the user belongs to, through their linked User entity."""
    if not user or not user.is_authenticated:
        return Entity.objects.none()
    return Entity.objects.filter(
        kind=Kind.GROUP,
        relations__type="hasMember",
        relations__target__portal_user=user,
    ).distinct()


def owned_by_teams(teams) -> QuerySet[Entity]:
    return Entity.objects.filter(relations__type="ownedBy", relations__target__in=teams).distinct()


def entities_owned_by_user(user) -> QuerySet[Entity]:
    return owned_by_teams(teams_of(user))
