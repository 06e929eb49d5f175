"""The catalog's read path as clients see it: facet counts over the API (fresh after every import),
JSON bytes as DRF writes them, the list page's rows escaped, and what a person may edit."""

import json
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from rest_framework.renderers import JSONRenderer

from catalog import services
from catalog.models import Entity
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


def test_api_json_is_what_drf_would_write(login, developer, import_text):
    import_text(FULL.replace("Takes orders.", "Takes orders \u2028 and ünïcode <b>"))
    client = login(developer)
    response = client.get(f"{API}/entities/by-ref/component:default/checkout/")
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert b"\\u2028" in response.content and "ünïcode".encode() in response.content
    assert data["updated_at"].endswith("Z")
    if connection.vendor != "postgresql":  # there PostgreSQL writes entities' JSON (spaced differently)
        assert response.content == JSONRenderer().render(data)
    # Pages without entities are DRF's bytes everywhere.
    facets = client.get(f"{API}/entity-facets/", {"facet": "kind"})
    assert facets.content == JSONRenderer().render(facets.json())


def _serialized(ref_key: str) -> dict:
    from catalog.api.serializers import EntitySerializer
    from catalog.models import Entity

    return EntitySerializer(Entity.objects.get(ref_key=ref_key)).data


HOSTILE = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: hostile
  title: '<script>alert("x")</script> \\ "quoted"'
  description: "line\\nbreak \\u2028 tab\\t ünïcode 漢字 \\U0001F600"
  labels: {team.example.com/tier: "1"}
  annotations: {backstage.io/source-location: "url:https://example.com/a?b=1&c=<2>"}
  tags: [python, a-b]
  links: [{url: "https://example.com", title: "Home & <away>"}]
spec:
  type: service
  lifecycle: production
  owner: group:team-pay
  nested: {numbers: [1, 2.5, -3e-7, 12345678901234567890], empty: {}, none: null, yes: true}
"""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL writes the JSON; elsewhere the serializer")
def test_the_json_postgresql_writes_is_the_serializers_for_every_entity_and_page(login, developer, import_text):
    from datetime import UTC, datetime

    from catalog.models import Entity

    result = import_text(FULL + "---" + HOSTILE)
    assert not result.problems, result.problems
    # Timestamps with and without microseconds: Python leaves ".000000" out, and so must the SQL.
    Entity.objects.filter(ref_key="component:default/hostile").update(
        created_at=datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC),
        updated_at=datetime(2026, 12, 6, 12, 0, 0, 7, tzinfo=UTC),
    )
    client = login(developer)
    for entity in Entity.objects.all():
        kind, rest = entity.ref.split(":", 1)
        namespace, name = rest.split("/", 1)
        response = client.get(f"{API}/entities/by-ref/{kind}:{namespace}/{name.upper()}/")
        assert response.status_code == 200
        assert response.json() == _serialized(entity.ref_key), entity.ref
    hostile = client.get(f"{API}/entities/by-ref/component:default/hostile/").json()
    assert hostile["created_at"] == "2026-12-06T12:00:00Z"
    assert hostile["updated_at"] == "2026-12-06T12:00:00.000007Z"
    assert hostile["spec"]["nested"]["numbers"][3] == 12345678901234567890
    assert hostile["url"] == "/catalog/Component/default/hostile/"

    # Pages: the filters, the order and the page size of the serializer's list, each entity as it writes it.
    for params in ({"kind": "component", "page_size": 2, "page": 2}, {"ordering": "-name"}, {"q": "host"}):
        page = client.get(f"{API}/entities/", params).json()
        assert page["results"], params
        assert page["results"] == [_serialized(row["ref"].lower()) for row in page["results"]]
    names = [row["name"] for row in client.get(f"{API}/entities/", {"ordering": "-name"}).json()["results"]]
    assert names == sorted(names, reverse=True)
    second = client.get(f"{API}/entities/", {"kind": "component", "page_size": 2, "page": 2}).json()
    assert second["count"] == 4 and [r["name"] for r in second["results"]] == ["ledger", "reports"]

    # The browsable API and indented JSON take the database's JSON too.
    indented = client.get(f"{API}/entities/by-ref/component:default/hostile/", HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200 and indented.content.startswith(b'{\n  "id"')
    html = client.get(f"{API}/entities/by-ref/component:default/hostile/", HTTP_ACCEPT="text/html")
    assert html.status_code == 200 and b"&lt;script&gt;" in html.content and b"<script>alert" not in html.content


def test_an_unknown_reference_is_404_and_strangers_get_nothing(client, login, developer, import_text):
    import_text(FULL)
    assert client.get(f"{API}/entities/by-ref/component:default/checkout/").status_code in (401, 403)
    assert login(developer).get(f"{API}/entities/by-ref/component:default/nothing/").status_code == 404


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


def test_the_list_page_shows_every_change_at_once_though_its_table_is_kept_between_requests(
    login, developer, platform_admin, import_text
):
    import_text(FULL)
    client = login(developer)
    assert ">Checkout</a>" in client.get("/catalog/", {"kind": "Component"}).content.decode()
    assert ">Checkout</a>" in client.get("/catalog/", {"kind": "Component"}).content.decode()  # kept

    import_text(FULL.replace("title: Checkout", "title: Till"))
    page = client.get("/catalog/", {"kind": "Component"}).content.decode()
    assert ">Till</a>" in page and ">Checkout</a>" not in page

    # A Platform Admin fixing a row in the admin site, or deleting one there, gives the catalog a new version too.
    entity_admin = admin.site._registry[Entity]
    request = RequestFactory().post("/")
    request.user = platform_admin
    checkout = Entity.objects.get(ref_key="component:default/checkout")
    checkout.title = "Basket"
    entity_admin.save_model(request, checkout, SimpleNamespace(changed_data=["title"]), change=True)
    assert ">Basket</a>" in client.get("/catalog/", {"kind": "Component"}).content.decode()
    entity_admin.delete_model(request, checkout)
    page = client.get("/catalog/", {"kind": "Component"}).content.decode()
    assert ">Basket</a>" not in page and "2 entities" in page


def test_what_the_list_page_keeps_between_requests_holds_nothing_only_its_first_reader_may_see(
    login, developer, platform_admin, import_text
):
    import_text(FULL)
    Entity.objects.filter(ref_key="component:default/checkout").update(orphaned=True)
    services.catalog_changed()
    delete_orphans = "Review and delete the orphaned entities"

    as_admin = login(platform_admin).get("/catalog/", {"orphaned": "true"}).content.decode()
    assert delete_orphans in as_admin and ">Checkout</a>" in as_admin and "Add entity" in as_admin
    as_developer = login(developer).get("/catalog/", {"orphaned": "true"}).content.decode()
    assert ">Checkout</a>" in as_developer
    assert delete_orphans not in as_developer and "Add entity" not in as_developer


def test_a_member_may_edit_their_teams_entities_and_no_other(login, developer, teammate, team):
    page = login(developer).get("/catalog/Component/default/svc-a/").content.decode()
    assert "/catalog/Component/default/svc-a/edit/" in page
    other = login(developer).get("/catalog/Component/default/svc-b/").content.decode()
    assert "/catalog/Component/default/svc-b/edit/" not in other
