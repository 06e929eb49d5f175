import pytest
from django.urls import reverse

from portal.extensions import SearchHit, SearchProvider, register_search_provider, registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def fruit_provider():
    """A provider that only shows 'secret' hits to its owner, to prove permissions are the provider's job."""

    def search(user, query, limit):
        items = [SearchHit(title=f"{query} apple", url="/fruit/apple/", kind="fruit")]
        if user.username == "dev":
            items.append(SearchHit(title=f"{query} secret", url="/fruit/secret/", kind="fruit"))
        return items[:limit]

    register_search_provider(SearchProvider("fruit", "Fruit", 5, search))
    yield
    registry.search_providers.pop("fruit", None)


def test_the_search_page_groups_results_by_type(login, developer, fruit_provider):
    body = login(developer).get(reverse("search"), {"q": "red"}).content.decode()
    assert "<h2>Fruit" in body
    assert "red apple" in body and "red secret" in body


def test_results_respect_what_the_user_may_see(login, stranger, fruit_provider):
    body = login(stranger).get(reverse("search"), {"q": "red"}).content.decode()
    assert "red apple" in body
    assert "red secret" not in body


def test_suggestions_come_as_an_htmx_fragment(login, developer, fruit_provider):
    response = login(developer).get(reverse("search"), {"q": "red", "suggest": "1"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert 'href="/fruit/apple/"' in body
    assert "All results for" in body


def test_a_query_shorter_than_two_characters_explains_itself(login, developer, fruit_provider):
    body = login(developer).get(reverse("search"), {"q": "r"}).content.decode()
    assert "Type at least two characters" in body


def test_no_match_says_so(login, developer):
    body = login(developer).get(reverse("search"), {"q": "zzzz-nothing"}).content.decode()
    assert "Nothing matches" in body
