import pytest
from django.urls import reverse

from catalog.models import Entity
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db


def test_the_global_search_finds_entities_and_ranks_the_name_match_first(login, stranger, import_text):
    import_text(FULL)
    body = login(stranger).get(reverse("search"), {"q": "checkout"}).content.decode()
    assert "<h2>Catalog" in body
    url = Entity.objects.get(kind="Component", name="checkout").get_absolute_url()
    assert f'href="{url}"' in body
    first_hit = body.split('class="search-results"')[1].split("</li>")[0]
    assert "checkout" in first_hit.lower()


def test_search_suggestions_include_catalog_entities(login, developer, import_text):
    import_text(FULL)
    response = login(developer).get(reverse("search"), {"q": "check", "suggest": "1"}, HTTP_HX_REQUEST="true")
    assert "Catalog" in response.content.decode()
