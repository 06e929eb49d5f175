"""The catalog's read path as clients see it: facet counts over the API (fresh after every import),
JSON bytes as DRF writes them, the list page's rows escaped, and what a person may edit."""

import json

import pytest
from rest_framework.renderers import JSONRenderer

from portal import services as portal_services
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db

API = "/api/catalog"


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {portal_services.token_create(user=user, name='reader').key}"}


def test_facet_counts_come_from_the_api_with_a_read_token(client, developer, import_text):
    import_text(FULL)
    body = client.get(f"{API}/entity-facets/", {"facet": ["kind", "type"]}, **bearer(developer)).json()
    kinds = {row["value"]: row["count"] for row in body["facets"]["kind"]}
    assert kinds["Component"] == 3 and kinds["User"] == 2 and kinds["Group"] == 2
    assert {"value": "service", "count": 3} in body["facets"]["type"]
    assert set(body["facets"]) == {"kind", "type"}


def test_facet_counts_take_backstage_names_and_the_list_filters(login, developer, import_text):
    import_text(FULL)
    client = login(developer)
    body = client.get(f"{API}/entity-facets/", {"facet": "spec.lifecycle", "kind": "component"}).json()
    assert body["facets"]["spec.lifecycle"] == [
        {"value": "production", "count": 2},
        {"value": "experimental", "count": 1},
    ]


def test_unknown_facets_and_bad_filters_are_clear_errors_and_strangers_get_nothing(client, login, developer):
    assert client.get(f"{API}/entity-facets/").status_code in (401, 403)
    signed_in = login(developer)
    unknown = signed_in.get(f"{API}/entity-facets/", {"facet": "colour"})
    assert unknown.status_code == 400 and "colour" in json.dumps(unknown.json())
    assert signed_in.get(f"{API}/entity-facets/", {"kind": "Widget"}).status_code == 400


def test_facet_counts_change_as_soon_as_an_import_changes_the_catalog(login, developer, import_text):
    import_text(FULL)
    client = login(developer)

    def components():
        facets = client.get(f"{API}/entity-facets/", {"facet": "kind"}).json()["facets"]["kind"]
        return {row["value"]: row["count"] for row in facets}.get("Component", 0)

    assert components() == 3
    assert components() == 3  # now served from the per-version cache
    import_text(
        FULL + "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: extra}\n"
        "spec: {type: service, lifecycle: production, owner: team-pay}\n"
    )
    assert components() == 4


def test_api_json_is_byte_for_byte_what_drf_would_write(login, developer, import_text):
    import_text(FULL.replace("Takes orders.", "Takes orders \u2028 and ünïcode <b>"))
    response = login(developer).get(f"{API}/entities/by-ref/component:default/checkout/")
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert response.content == JSONRenderer().render(data)
    assert b"\\u2028" in response.content and "ünïcode".encode() in response.content
    assert data["updated_at"].endswith("Z")


def test_list_page_rows_escape_what_an_import_brings(login, developer, import_text):
    import_text(
        FULL.replace("title: Checkout", "title: '<script>alert(1)</script>'").replace(
            "Takes orders.", "'<i>x</i> takes orders'"
        )
    )
    page = login(developer).get("/catalog/", {"kind": "Component"}).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;x&lt;/i&gt;" in page
    assert 'href="/catalog/Component/default/checkout/"' in page
    assert 'href="/catalog/group/default/team-pay/">group:team-pay</a>' in page
    assert 'href="/catalog/system/default/payments/">system:payments</a>' in page


def test_a_member_may_edit_their_teams_entities_and_no_other(login, developer, teammate, team):
    page = login(developer).get("/catalog/Component/default/svc-a/").content.decode()
    assert "/catalog/Component/default/svc-a/edit/" in page
    other = login(developer).get("/catalog/Component/default/svc-b/").content.decode()
    assert "/catalog/Component/default/svc-b/edit/" not in other
