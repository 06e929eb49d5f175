"""What the global search finds in the catalog: entities by name, title or description.

Every signed-in user reads the whole catalog, so there is nothing to hide here.
Exact and prefix matches on the name rank first.
"""

from django.db.models import Case, IntegerField, Value, When

from catalog.models import Entity
from portal.extensions import SearchHit


def search_entities(user, query: str, limit: int) -> list[SearchHit]:
    text = query.strip().lower()
    entities = (
        Entity.objects.filter(search_text__contains=text)
        .annotate(
            rank=Case(
                When(name__iexact=text, then=Value(0)),
                When(name__istartswith=text, then=Value(1)),
                When(title__icontains=text, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        .only("kind", "namespace", "name", "title", "description", "spec_type")
        .order_by("rank", "kind", "name")[:limit]
    )
    return [
        SearchHit(
            title=e.title or e.name,
            url=e.get_absolute_url(),
            kind=f"{e.kind}{' · ' + e.spec_type if e.spec_type else ''}",
            snippet=e.description[:200],
        )
        for e in entities
    ]
