"""The catalog API: same filters as the page, by-ref lookup, relations, export, import, object permissions."""

import pytest
import yaml
from django.db import connection

from catalog.models import Entity
from tests.catalog.conftest import entity
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db

API = "/api/catalog"

NEW = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "api-made", "description": "Made through the API"},
    "spec": {"type": "service", "lifecycle": "experimental", "owner": "team-a"},
}


def test_the_list_takes_the_same_filters_as_the_page(login, developer, import_text):
    import_text(FULL)
    client = login(developer)
    body = client.get(f"{API}/entities/", {"kind": "Component", "lifecycle": "production", "ordering": "-name"}).json()
    assert [e["name"] for e in body["results"]] == ["ledger", "checkout"]
    assert body["count"] == 2
    assert client.get(f"{API}/entities/", {"q": "takes orders"}).json()["results"][0]["ref"] == (
        "component:default/checkout"
    )
    assert client.get(f"{API}/entities/", {"owner": "org", "kind": "System"}).json()["count"] == 1
    assert client.get(f"{API}/entities/", {"tag": "pci"}).json()["count"] == 1


def test_an_invalid_filter_is_a_clear_json_error(login, developer):
    response = login(developer).get(f"{API}/entities/", {"kind": "Widget"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_an_entity_is_found_by_reference_case_insensitively(login, developer, import_text):
    import_text(FULL)
    client = login(developer)
    body = client.get(f"{API}/entities/by-ref/component:default/checkout").json()
    assert body["ref"] == "component:default/checkout" and body["owner"] == "group:default/team-pay"
    assert client.get(f"{API}/entities/by-ref/Component:Default/CHECKOUT").status_code == 200
    missing = client.get(f"{API}/entities/by-ref/component:default/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_relations_of_an_entity_say_whether_they_are_resolved(login, developer, import_text):
    import_text(FULL.replace("consumesApis: [payments-api]", "consumesApis: [ghost-api]"))
    checkout = entity("component:default/checkout")
    rows = login(developer).get(f"{API}/entities/{checkout.pk}/relations/").json()["results"]
    by_target = {r["target_ref"]: r for r in rows}
    assert by_target["api:default/ghost-api"]["resolved"] is False
    assert by_target["group:default/team-pay"]["resolved"] is True
    assert by_target["group:default/team-pay"]["target_url"] == "/catalog/Group/default/team-pay/"


def test_the_export_endpoint_writes_backstage_yaml_with_filters(login, developer, import_text):
    import_text(FULL)
    response = login(developer).get(f"{API}/export/", {"kind": "Group"})
    docs = list(yaml.safe_load_all(b"".join(response.streaming_content)))
    assert {d["metadata"]["name"] for d in docs} == {"org", "team-pay"}


def test_the_import_endpoint_reports_problems_per_entity(team, login, developer):
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: via-api}\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: bad_}\nspec: {}\n"
    )
    body = login(developer).post(f"{API}/import/", {"yaml": text, "name": "ci"}, content_type="application/json")
    assert body.status_code == 200
    data = body.json()
    assert data["created"] == ["component:default/via-api"]
    assert data["problems"][0]["document"] == 2 and data["problems"][0]["field"] == "metadata.name"


def test_the_import_endpoint_refuses_server_paths_to_non_admins(team, login, developer, tmp_path):
    response = login(developer).post(f"{API}/import/", {"path": str(tmp_path)}, content_type="application/json")
    assert response.status_code == 403


def test_the_import_endpoint_takes_an_uploaded_file(team, login, platform_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = b"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: uploaded}\nspec: {type: team}\n"
    response = login(platform_admin).post(f"{API}/import/", {"file": SimpleUploadedFile("c.yaml", text)})
    assert response.json()["created"] == ["group:default/uploaded"]


# --- role x endpoint ----------------------------------------------------------------


def test_everyone_signed_in_reads(team, login, stranger, client):
    svc = entity("component:default/svc-a")
    assert login(stranger).get(f"{API}/entities/{svc.pk}/").status_code == 200
    client.logout()
    assert client.get(f"{API}/entities/{svc.pk}/").status_code in (401, 403)


def test_a_team_member_creates_updates_and_deletes_their_teams_entity(team, login, developer):
    client = login(developer)
    created = client.post(f"{API}/entities/", NEW, content_type="application/json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    changed = {**NEW, "metadata": {**NEW["metadata"], "description": "Changed"}}
    assert client.put(f"{API}/entities/{pk}/", changed, content_type="application/json").status_code == 200
    assert Entity.objects.get(pk=pk).description == "Changed"
    assert client.delete(f"{API}/entities/{pk}/").status_code == 204
    assert not Entity.objects.filter(pk=pk).exists()


def test_a_stranger_cannot_create_update_or_delete(team, login, stranger):
    client = login(stranger)
    assert client.post(f"{API}/entities/", NEW, content_type="application/json").status_code == 403
    svc = entity("component:default/svc-a")
    doc = {**NEW, "metadata": {"name": "svc-a"}}
    assert client.put(f"{API}/entities/{svc.pk}/", doc, content_type="application/json").status_code == 403
    assert client.delete(f"{API}/entities/{svc.pk}/").status_code == 403
    assert entity("component:default/svc-a").description == "Service of team A"


def test_a_team_member_cannot_touch_another_teams_entity(team, login, developer):
    client = login(developer)
    svc = entity("component:default/svc-b")
    doc = {**NEW, "metadata": {"name": "svc-b"}, "spec": {**NEW["spec"], "owner": "team-a"}}
    assert client.put(f"{API}/entities/{svc.pk}/", doc, content_type="application/json").status_code == 403
    assert client.delete(f"{API}/entities/{svc.pk}/").status_code == 403


def test_a_platform_admin_writes_any_entity(team, login, platform_admin):
    client = login(platform_admin)
    svc = entity("component:default/svc-b")
    doc = {**NEW, "metadata": {"name": "svc-b", "title": "B"}, "spec": {**NEW["spec"], "owner": "team-b"}}
    assert client.put(f"{API}/entities/{svc.pk}/", doc, content_type="application/json").status_code == 200
    assert entity("component:default/svc-b").title == "B"
    assert client.delete(f"{API}/entities/{svc.pk}/").status_code == 204


def test_invalid_descriptors_are_clear_json_errors(team, login, developer):
    client = login(developer)
    bad = {**NEW, "metadata": {"name": "-nope-"}}
    response = client.post(f"{API}/entities/", bad, content_type="application/json")
    assert response.status_code == 400
    assert "metadata.name" in response.json()["error"]["message"]
    assert client.post(f"{API}/entities/", {"kind": "Component"}, content_type="application/json").status_code == 400
    existing = {**NEW, "metadata": {"name": "svc-a"}}
    response = client.post(f"{API}/entities/", existing, content_type="application/json")
    assert response.status_code == 400 and "exists already" in response.json()["error"]["message"]
    with_nul = {**NEW, "metadata": {"name": "svc-nul", "description": "before\u0000after"}}
    response = client.post(f"{API}/entities/", with_nul, content_type="application/json")
    assert response.status_code == 400
    assert "metadata.description: contains a NUL character" in response.json()["error"]["message"]


@pytest.mark.parametrize("size", [3, 100])
def test_the_api_list_and_lookup_run_a_fixed_number_of_queries(
    login, developer, import_text, size, django_assert_max_num_queries
):
    from tests.catalog.test_views import many_components

    import_text(FULL)
    import_text(many_components(size), name="many")
    client = login(developer)
    # On PostgreSQL a page takes two: its ids, then the JSON the database writes for them.
    with django_assert_max_num_queries(6 if connection.vendor == "postgresql" else 5):
        assert client.get(f"{API}/entities/", {"kind": "Component"}).status_code == 200
    with django_assert_max_num_queries(4):
        assert client.get(f"{API}/entities/by-ref/component:default/svc-1").status_code == 200


def test_a_json_body_too_large_is_a_clear_error_not_a_500(team, login, platform_admin):
    import json

    body = json.dumps({"yaml": "# " + "x" * 3_000_000})
    response = login(platform_admin).post(f"{API}/import/", body, content_type="application/json")
    assert response.status_code == 400
    assert "multipart file upload" in response.json()["error"]["message"]


def test_the_kind_filter_accepts_any_case_as_backstage_does(client, developer, import_text):
    from tests.catalog.test_import import FULL

    import_text(FULL)
    client.force_login(developer)
    lower = client.get("/api/catalog/entities/", {"kind": "component"})
    assert lower.status_code == 200
    assert lower.json()["count"] == client.get("/api/catalog/entities/", {"kind": "Component"}).json()["count"] > 0
