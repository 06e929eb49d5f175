"""Numbers in query strings: odd digits or huge values are ignored or refused clearly, never a 500."""

import pytest
from django.contrib.messages import get_messages

from knowledge import services
from portal.params import parse_int

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12", 12), ("0", 0), (str(2**63 - 1), 2**63 - 1), (str(2**63), None), ("²", None), ("١٢", None),
     (" 7", None), ("1_0", None), ("-1", None), ("+1", None), ("", None), (None, None)],
)  # fmt: skip
def test_a_number_parameter_is_ascii_digits_within_63_bits(raw, value):
    assert parse_int(raw) == value


def urls(page):
    key, slug = page.space.key, page.slug
    return [
        "/knowledge/search/?entity={n}",
        "/knowledge/search/?q=hello&entity={n}",
        f"/knowledge/s/{key}/new/?parent={{n}}",
        f"/knowledge/s/{key}/new/?incident={{n}}",
        "/incidents/?entity={n}",
        "/incidents/?runbook={n}",
        f"/knowledge/s/{key}/p/{slug}/diff/?a={{n}}&b=1",
        f"/knowledge/s/{key}/p/{slug}/diff/?a=1&b={{n}}",
        "/api/knowledge/pages/?entity={n}",
        "/api/incidents/?entity={n}",
        "/api/knowledge/search/?entity={n}",
        "/api/knowledge/search/?q=hello&entity={n}",
        f"/api/knowledge/pages/{page.pk}/diff/?a={{n}}&b=1",
        f"/api/knowledge/pages/{page.pk}/diff/?a=1&b={{n}}",
    ]


@pytest.mark.parametrize("number", ["²", "١", HUGE, "-1", "1e3"])
def test_odd_numbers_in_query_strings_never_give_a_server_error(login, developer, page, number):
    client = login(developer)
    for url in urls(page):
        response = client.get(url.format(n=number))
        assert response.status_code in (200, 302, 400), (url, response.status_code)


def test_an_odd_entity_filter_is_ignored(login, developer, page):
    client = login(developer)
    assert page.get_absolute_url() in client.get("/knowledge/search/?entity=²").content.decode()
    assert page.pk in [p["id"] for p in client.get("/api/knowledge/pages/?entity=²").json()["results"]]


def test_a_diff_of_a_huge_revision_number_names_the_missing_revision(login, developer, page):
    client = login(developer)
    response = client.get(page.url_for("page-diff") + f"?a={HUGE}&b=1")
    assert response.status_code == 302 and response["Location"] == page.url_for("page-history")
    assert "Give two revision numbers to compare, from 1 to 1." in [str(m) for m in get_messages(response.wsgi_request)]
    api = client.get(f"/api/knowledge/pages/{page.pk}/diff/?a={HUGE}&b=1")
    assert api.status_code == 400 and "revision numbers" in api.json()["error"]["message"]


def test_typing_a_revision_that_does_not_exist_says_which_one(login, developer, page):
    services.page_update(
        actor=developer, page=page, title=page.title, body="v2", base_revision_id=page.current_revision_id
    )
    client = login(developer)
    history = client.get(page.url_for("page-history")).content.decode()
    assert 'id="kb-diff-a" name="a" type="number"' in history and '<label for="kb-diff-b">' in history
    response = client.get(page.url_for("page-diff"), {"a": "1", "b": "7"}, follow=True)
    assert "This page has no revision 7: its revisions are numbered 1 to 2." in response.content.decode()
    api = client.get(f"/api/knowledge/pages/{page.pk}/diff/?a=7&b=1")
    assert api.status_code == 400 and api.json()["error"]["message"] == "This page has no revision 7."
    assert client.get(page.url_for("page-diff"), {"a": "1", "b": "2"}).status_code == 200
