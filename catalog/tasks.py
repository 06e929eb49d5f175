"""Celery entry points of the catalog: scorecards after changes and every night; Git locations."""

from celery import shared_task

from catalog import services


@shared_task(name="catalog.evaluate_scorecards", acks_late=True, soft_time_limit=600, time_limit=660)
def evaluate_scorecards(entity_ids: list[int] | None = None) -> int:
    """Recompute scores (of the given entities, or all of them). Running it twice does no harm."""
    return services.scorecards_evaluate(entity_ids=entity_ids)


@shared_task(name="catalog.vacuum_after_import", acks_late=True, soft_time_limit=600, time_limit=660)
def vacuum_after_import() -> None:
    """After a large import, VACUUM the entity table so that deep list pages read only its index."""
    services.catalog_vacuum()


@shared_task(name="catalog.refresh_locations", acks_late=True, soft_time_limit=1800, time_limit=1860)
def refresh_locations() -> int:
    """The scheduled refresh of every location (conditional: an unchanged one writes nothing)."""
    return services.locations_refresh_all().checked


@shared_task(name="catalog.refresh_location", acks_late=True, soft_time_limit=300, time_limit=360)
def refresh_location(location_id: int, force: bool = False) -> str:
    from catalog.models import CatalogLocation

    location = CatalogLocation.objects.filter(pk=location_id).first()
    if location is None:
        return "missing"
    return services.locations_refresh(locations=[location], force=force)[0].status


@shared_task(name="catalog.refresh_for_push", acks_late=True, soft_time_limit=300, time_limit=360)
def refresh_for_push(
    host: str, repository: str, branch: str, paths: list[str] | None = None, default_branch: str = ""
) -> int:
    """A push reached a branch: refresh the locations it touched. Idempotent (a second run finds them unchanged)."""
    return len(
        services.locations_refresh_for_push(
            host=host, repository=repository, branch=branch, paths=paths, default_branch=default_branch
        )
    )


@shared_task(name="catalog.scan_discoveries", acks_late=True, soft_time_limit=3000, time_limit=3060)
def scan_discoveries() -> int:
    """Scan every discovery: new repositories get a location, gone ones lose theirs."""
    return services.discoveries_scan_all()
