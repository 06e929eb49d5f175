"""Importing real mkdocs projects; prints figures, not part of the pass/fail suite.

Run: ``.venv/bin/pytest tests/bench/bench_knowledge_import.py -s`` (with DATABASE_URL for PostgreSQL).
Budgets (issue 19): importing the 96-page mkdocs-material docs <= 10 s; page views as before
(about 20 ms), served from the render stored per revision.
"""

import statistics
import time

import pytest

from knowledge import services
from knowledge.models import Page
from tests.bench.machine import reference_figures
from tests.knowledge.test_roundtrip import PROJECTS, _zip

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["material", "mkdocs"])
def test_bench_importing_a_real_mkdocs_project(
    name, platform_admin, client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the import enqueues the rendering; timed apart below
    space = services.space_create(actor=platform_admin, key=f"bench-{name}", name=name, owner=None)
    archive = _zip(PROJECTS / name)
    size = archive.getbuffer().nbytes
    start = time.perf_counter()
    with django_capture_on_commit_callbacks() as enqueued:
        result = services.space_import_archive(actor=platform_admin, space=space, archive=archive, drop_refused=True)
    first = time.perf_counter() - start
    assert len(enqueued) == 1  # one task renders the pages after the import
    start = time.perf_counter()
    rendered = services.pages_render_outdated(space_id=space.pk)
    render = time.perf_counter() - start
    archive.seek(0)
    start = time.perf_counter()
    again = services.space_import_archive(actor=platform_admin, space=space, archive=archive, drop_refused=True)
    second = time.perf_counter() - start
    print(
        f"\n{reference_figures()}\nimport of the {name} docs ({result.created} pages, {size / 1e6:.1f} MB zip): "
        f"{first:.2f} s (budget 10 s for material); again, unchanged ({again.unchanged} pages): {second:.2f} s; "
        f"then the worker renders the {rendered} pages in {render:.2f} s"
    )

    client.force_login(platform_admin)
    page = max(Page.objects.filter(space=space), key=lambda p: len(p.body))
    client.get(page.get_absolute_url())  # templates and URL patterns compile on the first request
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        assert client.get(page.get_absolute_url()).status_code == 200
        runs.append(time.perf_counter() - start)
    print(
        f"view of its largest page ({page.source_path}, {len(page.body) // 1024} KB): median "
        f"{statistics.median(runs) * 1000:.1f} ms, best {min(runs) * 1000:.1f} ms (budget about 20 ms, as before)"
    )
