"""Every change to the catalog goes through here."""

from django.db import transaction

from catalog.models import Entity, Kind, Relation


def entity_ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}:{namespace.lower()}/{name.lower()}"


def relation_add(*, source: Entity, type: str, target_ref: str) -> Relation:
    target = Entity.objects.filter(
        kind__iexact=target_ref.split(":", 1)[0],
        namespace__iexact=target_ref.split(":", 1)[1].split("/", 1)[0],
        name__iexact=target_ref.split("/", 1)[1],
    ).first()
    relation, _ = Relation.objects.update_or_create(
        source=source, type=type, target_ref=target_ref, defaults={"target": target}
    )
    return relation


@transaction.atomic
def demo_catalog_ensure(*, users: dict) -> int:
    """Create the small demo catalog if it is missing; returns how many entities were created."""
    created = 0

    def ensure(kind, name, **fields):
        nonlocal created
        entity, was_created = Entity.objects.get_or_create(kind=kind, namespace="default", name=name, defaults=fields)
        created += int(was_created)
        return entity

    team = ensure(
        Kind.GROUP,
        "team-payments",
        title="Payments team",
        spec_type="team",
        description="Owns checkout and payment services.",
    )
    for username, user in users.items():
        person = ensure(Kind.USER, username, title=username.title())
        if person.portal_user_id is None:
            person.portal_user = user
            person.save(update_fields=["portal_user"])
        relation_add(source=team, type="hasMember", target_ref=entity_ref(Kind.USER, "default", username))
        relation_add(source=person, type="memberOf", target_ref=entity_ref(Kind.GROUP, "default", team.name))
    for name, description in [
        ("checkout-api", "Takes orders and hands them to payments."),
        ("payments-service", "Charges cards through the payment provider."),
    ]:
        component = ensure(Kind.COMPONENT, name, spec_type="service", lifecycle="production", description=description)
        relation_add(source=component, type="ownedBy", target_ref=entity_ref(Kind.GROUP, "default", team.name))
        relation_add(source=team, type="ownerOf", target_ref=entity_ref(Kind.COMPONENT, "default", name))
    return created
