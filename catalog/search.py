"""What the global search finds in the catalog: entities by name, title or description.

Every signed-in user reads the whole catalog, so there is nothing to hide here.
Names that start with the query rank first (an exact name before longer ones), then
other entities whose name, title or description contain it. Each tier is one indexed
query that stops at ``limit`` rows, so a two-letter query over 100,000 entities costs
no more than a precise one.
"""

from django.db import connection
from django.db.models.functions import Collate, Lower

from catalog.models import Entity
from portal.extensions import SearchHit

FIELDS = ("kind", "namespace", "name", "title", "description", "spec_type")


def search_entities(user, query: str, limit: int) -> list[SearchHit]:
    text = query.strip().lower()
    if not text:
        return []
    # Byte order, as the name-prefix index keeps it: the index then serves the order and the limit.
    lower_name = Collate(Lower("name"), "C" if connection.vendor == "postgresql" else "BINARY")
    prefix = list(
        Entity.objects.annotate(lower_name=lower_name)
        .filter(lower_name__startswith=text)
        .only(*FIELDS)
        .order_by("lower_name", "kind", "namespace")[:limit]
    )
    found = prefix
    if len(found) < limit:
        found += list(
            Entity.objects.filter(search_text__contains=text)
            .exclude(pk__in=[e.pk for e in prefix])
            .only(*FIELDS)
            .order_by("kind", "name")[: limit - len(found)]
        )
    return [
        SearchHit(
            title=e.title or e.name,
            url=e.get_absolute_url(),
            kind=f"{e.kind}{' · ' + e.spec_type if e.spec_type else ''}",
            snippet=e.description[:200],
        )
        for e in found
    ]
