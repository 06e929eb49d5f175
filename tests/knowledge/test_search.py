import pytest
from django.db import connection
from django.urls import reverse

from knowledge import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(space, developer, service, team):
    other = services.space_create(actor=developer, key="infra", name="Infra", owner=team)
    a = services.page_create(
        actor=developer, space=space, title="Database failover", kind="runbook", tags="db",
        body="When the primary database fails, promote the replica. Failover takes a minute.",
        entity_ids=[service.pk],
    )  # fmt: skip
    b = services.page_create(
        actor=developer, space=space, title="Caching", body="Redis caches sessions. A database is not involved."
    )
    c = services.page_create(actor=developer, space=other, title="Networks", body="VPC layout <b>and</b> peering.")
    return a, b, c


def test_search_finds_titles_and_bodies_and_ranks_the_title_match_first(corpus):
    a, b, _ = corpus
    hits = selectors.search_pages(query="database")
    assert [h.page for h in hits] == [a, b]


def test_search_snippets_highlight_matches_and_escape_html(corpus):
    hits = selectors.search_pages(query="peering")
    assert len(hits) == 1
    assert "<mark>peering</mark>" in hits[0].snippet
    # Either escaped (SQLite) or stripped by ts_headline (PostgreSQL): never live HTML.
    assert "<b>" not in hits[0].snippet


def test_search_filters_by_space_kind_tag_and_entity(corpus, service):
    a, b, c = corpus
    assert [h.page for h in selectors.search_pages(query="", space="infra")] == [c]
    assert [h.page for h in selectors.search_pages(query="database", kind="runbook")] == [a]
    assert [h.page for h in selectors.search_pages(query="database", tag="db")] == [a]
    assert [h.page for h in selectors.search_pages(query="database", entity=service.pk)] == [a]


def test_search_after_an_edit_finds_the_new_text(corpus, developer):
    _, b, _ = corpus
    services.page_update(
        actor=developer, page=b, title=b.title, body="Memcached now.", base_revision_id=b.current_revision_id
    )
    assert [h.page for h in selectors.search_pages(query="memcached")] == [b]
    assert selectors.search_pages(query="redis") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
def test_postgres_search_uses_stemming_and_ranks(corpus):
    a, _, _ = corpus
    hits = selectors.search_pages(query="promoting replicas")
    assert [h.page for h in hits] == [a]
    assert hits[0].rank > 0 and "<mark>" in hits[0].snippet


def test_the_search_page_shows_results_and_an_empty_state(login, developer, corpus):
    client = login(developer)
    response = client.get(reverse("knowledge:search"), {"q": "failover"})
    assert b"Database failover" in response.content and b"<mark>" in response.content
    response = client.get(reverse("knowledge:search"), {"q": "zzzz-nothing"}, HTTP_HX_REQUEST="true")
    assert b"No page matches" in response.content and b"<html" not in response.content


def test_a_title_match_ranks_first_even_behind_hundreds_of_newer_body_matches(space, developer):
    from knowledge.models import Page

    old = services.page_create(actor=developer, space=space, title="Widget recovery", body="Steps.")
    Page.objects.bulk_create(
        Page(space=space, title=f"Note {n}", slug=f"note-{n}", body=f"Some widget talk {n}.")
        for n in range(selectors.RANK_ALL_UP_TO + 100)
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchVector

        Page.objects.exclude(pk=old.pk).update(
            search_vector=SearchVector("title", weight="A", config="english")
            + SearchVector("body", weight="B", config="english")
        )
    hits = selectors.search_pages(query="widget", limit=5)
    assert hits[0].page == old
    assert len(hits) == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
@pytest.mark.parametrize("common_from", [40, 1000], ids=["common-word", "rarer-word"])
def test_beyond_ranking_every_match_the_newest_strong_match_still_comes_first(
    space, developer, monkeypatch, common_from
):
    from django.contrib.postgres.search import SearchVector

    from knowledge.models import Page

    monkeypatch.setattr(selectors, "RANK_ALL_UP_TO", 20)
    monkeypatch.setattr(selectors, "RANKED_CANDIDATES", 10)
    monkeypatch.setattr(selectors, "COMMON_FROM", common_from)
    Page.objects.bulk_create(
        Page(space=space, title=f"Note {n}", slug=f"note-{n}", body=f"A gadget mentioned once, {n}.") for n in range(60)
    )
    Page.objects.bulk_create(
        Page(space=space, title=f"Other {n}", slug=f"other-{n}", body="Nothing to see.") for n in range(100)
    )
    Page.objects.update(
        search_vector=SearchVector("title", weight="A", config="english")
        + SearchVector("body", weight="B", config="english")
    )
    newest = services.page_create(actor=developer, space=space, title="Weekly report", body="gadget " * 20)
    hits = selectors.search_pages(query="gadget", limit=5)
    assert hits[0].page == newest and len(hits) == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
def test_search_leaves_the_planner_settings_of_the_surrounding_transaction_alone(corpus):
    # Tests run inside a transaction, as a request with other work after the search would.
    assert selectors.search_pages(query="failover")
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
