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


# --- pages of results ------------------------------------------------------------------------


def _notes(space, count: int, word: str = "gadget", prefix: str = "Note"):
    """``count`` pages that mention ``word`` once, with their search vectors as a save would write them."""
    from knowledge.models import Page

    made = Page.objects.bulk_create(
        Page(space=space, title=f"{prefix} {n}", slug=f"{prefix.lower()}-{n}", body=f"A {word} mentioned once, {n}.")
        for n in range(count)
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchVector

        Page.objects.filter(pk__in=[p.pk for p in made]).update(
            search_vector=SearchVector("title", weight="A", config="english")
            + SearchVector("body", weight="B", config="english")
        )
    return made


def test_page_two_of_the_results_continues_where_page_one_stopped(space):
    made = _notes(space, 25)
    _notes(space, 5, word="sprocket", prefix="Other")
    first = selectors.search_page(number=1, per_page=10, query="gadget")
    second = selectors.search_page(number=2, per_page=10, query="gadget")
    third = selectors.search_page(number=3, per_page=10, query="gadget")
    pages = [[h.page.pk for h in p.results.hits] for p in (first, second, third)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sorted(pages[0] + pages[1] + pages[2]) == sorted(p.pk for p in made)  # each once, none missing
    assert first.results.count == 25 and first.results.count_exact and first.num_pages == 3
    assert not third.has_next() and third.has_previous()


def test_a_page_past_the_end_shows_the_last_page_or_nothing(space):
    _notes(space, 12)
    last = selectors.search_page(number=2, per_page=10, query="gadget")
    page = selectors.search_page(number=9, per_page=10, query="gadget")
    assert page.past_the_end and page.number == 2
    assert [h.page for h in page.results.hits] == [h.page for h in last.results.hits]
    empty = selectors.search_page(number=9, per_page=10, query="gadget", to_last_page=False)
    assert empty.results.hits == [] and empty.results.count == 12 and empty.previous_page_number() == 2


def test_pages_without_words_list_the_newest_pages_in_pages_too(space):
    made = _notes(space, 15)
    seen = [h.page.pk for n in (1, 2) for h in selectors.search_page(number=n, per_page=10, query="").results.hits]
    assert sorted(seen) == sorted(p.pk for p in made)


def test_a_huge_page_number_shows_the_last_page_with_or_without_words(login, developer, space):
    made = _notes(space, 3)
    client = login(developer)
    for query in ("", "gadget"):
        html = client.get("/knowledge/search/", {"q": query, "page": str(2**63 - 1)}).content.decode()
        assert all(p.get_absolute_url() in html for p in made)
        api = client.get("/api/knowledge/search/", {"q": query, "page": str(2**60)})
        assert api.status_code == 200 and api.json()["results"] == [] and api.json()["count"] == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL counts up to COMMON_FROM")
def test_a_common_word_says_more_than_n_results_and_pages_through_the_ranked_ones(space, monkeypatch, login, developer):
    monkeypatch.setattr(selectors, "RANK_ALL_UP_TO", 20)
    monkeypatch.setattr(selectors, "RANKED_CANDIDATES", 10)
    monkeypatch.setattr(selectors, "COMMON_FROM", 40)
    _notes(space, 60)
    first = selectors.search(query="gadget", limit=4)
    assert first.count == 40 and not first.count_exact
    assert first.listed == 10  # the newest ten: none matches in its title
    seen = [
        h.page.pk for n in (1, 2, 3) for h in selectors.search_page(number=n, per_page=4, query="gadget").results.hits
    ]
    assert len(seen) == len(set(seen)) == 10
    body = login(developer).get(reverse("knowledge:search"), {"q": "gadget"}).content.decode()
    assert "More than 40 results" in body and "the 10 most relevant are listed" in body


def test_the_search_page_counts_pages_through_results_and_keeps_the_filters(login, developer, space, service):
    for page in _notes(space, 45):
        page.kind = "runbook"
        page.save(update_fields=["kind"])
        page.entities.add(service)
    client = login(developer)
    params = {"q": "gadget", "kind": "runbook", "entity": service.pk}
    first = client.get(reverse("knowledge:search"), params).content.decode()
    assert "45 results" in first and "showing 1–20" in first
    assert f"q=gadget&amp;kind=runbook&amp;entity={service.pk}&amp;page=2" in first and 'rel="next"' in first
    second = client.get(reverse("knowledge:search"), {**params, "page": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert "showing 21–40" in second and 'aria-current="page"' in second
    titles = lambda body: {t for t in body.split("<strong>") if t.startswith("Note ")}  # noqa: E731
    assert len(titles(first)) == len(titles(second)) == 20 and not titles(first) & titles(second)
    past = client.get(reverse("knowledge:search"), {**params, "page": 7})
    assert past.status_code == 200
    body = past.content.decode()
    assert "There is no page 7" in body and "showing 41–45" in body
    odd = client.get(reverse("knowledge:search"), {**params, "page": "x"})
    assert odd.status_code == 200 and "showing 1–20" in odd.content.decode()


def test_the_search_page_filters_by_an_entity_chosen_from_those_with_pages(login, developer, corpus, service, team):
    client = login(developer)
    body = client.get(reverse("knowledge:search")).content.decode()
    assert '<label for="knowledge-search-entity">' in body
    assert f'<option value="{service.pk}">checkout-api (Component)</option>' in body
    assert f'<option value="{team.pk}"' not in body  # the team has no pages linked
    body = client.get(reverse("knowledge:search"), {"q": "database", "entity": service.pk}).content.decode()
    assert f'<option value="{service.pk}" selected>' in body
    assert "Database failover" in body and "Caching" not in body


def test_the_runbooks_tab_of_a_service_links_to_a_search_of_its_pages(login, developer, corpus, service):
    client = login(developer)
    tab = client.get(service.get_absolute_url(), {"tab": "runbooks"}, HTTP_HX_REQUEST="true").content.decode()
    link = f"{reverse('knowledge:search')}?entity={service.pk}"
    assert f'href="{link}"' in tab and "Search this service’s pages" in tab
    found = client.get(link).content.decode()
    assert "Database failover" in found and "Caching" not in found and "1 result" in found


def test_snippets_show_the_text_a_reader_sees_not_its_markdown(space, developer):
    services.page_create(
        actor=developer, space=space, title="Failover",
        body="---\ntitle: Failover\ntags: [db]\n---\n\n## Promote **the replica** { #promote }\n\n"
        "!!! warning \"Careful\"\n    See [the guide](guide.md) and ==check== `pg_ctl promote` :material-check:.\n",
    )  # fmt: skip
    snippet = selectors.search_pages(query="replica")[0].snippet
    assert "<mark>replica</mark>" in snippet
    for markup in ("**", "##", "{ #", "](", "!!!", "==", "`", ":material-", "title:", "---"):
        assert markup not in snippet, markup
    assert "the guide" in snippet or "Promote" in snippet


def test_brackets_written_in_a_page_are_not_read_as_highlights(space, developer):
    services.page_create(
        actor=developer,
        space=space,
        title="Notation",
        body="Intervals like ⟦0, 1⟧ and \ue000x\ue001 in failover maths.",
    )
    snippet = selectors.search_pages(query="failover")[0].snippet
    assert snippet.count("<mark>") == 1 and "<mark>failover</mark>" in snippet and "⟦0, 1⟧" in snippet
