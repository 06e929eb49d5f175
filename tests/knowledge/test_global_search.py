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
    services.page_create(
        actor=platform_admin, space=space, title="Quorum", body="Failover when a < b & <b>c</b> <script>x()</script>"
    )
    body = login(stranger).get(reverse("search"), {"q": "failover"}).content.decode()
    assert "Failover when a &lt; b &amp; &lt;b&gt;c&lt;/b&gt; &lt;script&gt;" in body
    assert "&amp;lt;" not in body and "<script>x()" not in body
