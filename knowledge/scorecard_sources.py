"""Data the catalog's scorecards ask the knowledge base for (see catalog.scorecards)."""

from django.db.models import Count

from knowledge.models import Page, PageKind, ServiceDocsBuild


def runbook_counts(entities: list) -> dict:
    ids = [e.pk for e in entities]
    counts = dict(
        Page.objects.filter(kind=PageKind.RUNBOOK, entities__in=ids)
        .values_list("entities")
        .annotate(n=Count("pk", distinct=True))
        .values_list("entities", "n")
    )
    return {pk: counts.get(pk, 0) for pk in ids}


def has_docs(entities: list) -> dict:
    """Docs: a successful service docs build, or an article linked to the entity."""
    ids = [e.pk for e in entities]
    built = set(
        ServiceDocsBuild.objects.filter(entity_id__in=ids, status=ServiceDocsBuild.Status.SUCCEEDED).values_list(
            "entity_id", flat=True
        )
    )
    written = set(Page.objects.filter(kind=PageKind.ARTICLE, entities__in=ids).values_list("entities", flat=True))
    return {pk: pk in built or pk in written for pk in ids}
