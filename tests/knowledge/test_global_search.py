import pytest
from django.urls import reverse

from knowledge import services

pytestmark = pytest.mark.django_db


def test_the_global_search_finds_runbooks_and_pages(login, platform_admin, stranger):
    space = services.space_create(actor=platform_admin, key="ops", name="Operations", owner=None)
    page = services.page_create(
        actor=platform_admin,
        space=space,
        title="Database failover",
        kind="runbook",
        body="# Failover\n\nPromote the replica when the primary is lost.",
    )
    body = login(stranger).get(reverse("search"), {"q": "failover"}).content.decode()
    assert "Pages and runbooks" in body
    assert page.get_absolute_url() in body


def test_the_global_search_shows_a_snippet_as_written_without_running_it(login, platform_admin, stranger):
    space = services.space_create(actor=platform_admin, key="ops", name="Operations", owner=None)
    body = "Failover when lag < 5 s & load > 3, then promote the replica. <script>x()</script>"
    services.page_create(actor=platform_admin, space=space, title="Quorum", body=body)
    shown = login(stranger).get(reverse("search"), {"q": "failover"}).content.decode()
    assert "Failover when lag &lt; 5 s &amp; load &gt; 3, then promote the replica" in shown
    assert "&amp;lt;" not in shown and "<script>x()" not in shown
