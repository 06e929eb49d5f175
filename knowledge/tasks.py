"""Celery entry points: they take ids and call services."""

from celery import shared_task

from knowledge import services


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def build_site(build_id: int) -> str:
    return services.site_build_run(build_id=build_id).status


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def build_service_docs(build_id: int) -> str:
    return services.service_docs_build_run(build_id=build_id).status


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def render_pages(space_id: int) -> int:
    """Render and store the pages of a space that have no current render (after an import)."""
    return services.pages_render_outdated(space_id=space_id)
