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


def test_names_starting_with_the_query_come_first_then_other_matches(import_text, developer):
    from catalog.search import search_entities

    documents = []
    for kind, name, description in [
        ("Component", "old-payroll", "Pays people"),
        ("Component", "pay", "The exact name"),
        ("Component", "payments-api", ""),
        ("Resource", "Payments-DB", ""),
        ("System", "zz-shop", "Takes payments"),
    ]:
        spec = "{type: service, lifecycle: production, owner: team}" if kind != "System" else "{owner: team}"
        if kind == "Resource":
            spec = "{type: database, owner: team}"
        documents.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: {kind}\n"
            f"metadata: {{name: {name}, description: {description or 'none'}}}\nspec: {spec}\n"
        )
    import_text("---\n".join(documents))
    titles = [hit.title for hit in search_entities(developer, "PAY", 10)]
    assert titles[:3] == ["pay", "payments-api", "Payments-DB"]
    assert set(titles[3:]) == {"old-payroll", "zz-shop"}
    assert [hit.title for hit in search_entities(developer, "pay", 2)] == ["pay", "payments-api"]
    assert search_entities(developer, "   ", 5) == []
