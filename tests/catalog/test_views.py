"""The catalog pages: list with filters and facets, entity page, graph, forms, import, bounded queries."""

import re

import pytest
from django.urls import reverse

from catalog import services
from catalog.models import Entity
from portal.extensions import EntityTab, register_entity_tab, registry
from tests.catalog.conftest import entity
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db


def many_components(n: int, start: int = 0) -> str:
    return "\n---\n".join(
        f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}, tags: [gen]}}\n"
        f"spec: {{type: service, lifecycle: production, owner: team-pay, system: payments, "
        f"dependsOn: ['component:svc-{(i + 1) % (start + n)}']}}"
        for i in range(start, start + n)
    )


def test_the_list_filters_by_kind_type_lifecycle_owner_system_tag_and_text(login, developer, import_text):
    import_text(FULL)
    client = login(developer)

    def names(**params):
        response = client.get(reverse("catalog:index"), params)
        assert response.status_code == 200
        return {e.name for e in response.context["page"].object_list}

    assert names(kind="API") == {"checkout-api", "payments-api"}
    assert names(kind=["API", "Resource"]) == {"checkout-api", "payments-api", "orders-db", "backups"}
    assert names(type="database") == {"orders-db"}
    assert names(lifecycle="experimental") == {"reports"}
    assert names(owner="org") == {"commerce", "payments-domain", "payments"}
    assert names(owner="group:default/org", kind="System") == {"payments"}
    assert names(system="payments") == {"checkout", "checkout-api", "orders-db"}
    assert names(tag="pci") == {"checkout"}
    assert names(q="takes ORDERS") == {"checkout"}
    assert names(q="ledg") == {"ledger"}
    assert names(orphaned="true") == set()


def test_the_list_shows_facet_counts_and_sorts(login, developer, import_text):
    import_text(FULL)
    response = login(developer).get(reverse("catalog:index"), {"kind": "Component", "ordering": "-name"})
    facets = response.context["facets"]
    assert dict(facets["kind"]) == {"Component": 3}
    assert dict(facets["lifecycle"]) == {"production": 2, "experimental": 1}
    assert [e.name for e in response.context["page"].object_list] == ["reports", "ledger", "checkout"]
    assert 'href="?kind=Component&amp;ordering=name"' in response.content.decode()


def test_a_facet_link_narrows_the_list_and_keeps_the_other_filters(login, developer, import_text):
    import_text(FULL)
    client = login(developer)
    page = client.get("/catalog/?q=e&kind=Component&x=%3Cb%3E&page=1").content.decode()
    assert 'href="?q=e&amp;kind=Component&amp;x=%3Cb%3E&amp;lifecycle=production">production <strong>2</strong>' in page
    assert 'href="?q=e&amp;kind=Component&amp;x=%3Cb%3E&amp;owner=group%3Adefault%2Fteam-pay">group:team-pay' in page
    page = client.get("/catalog/?kind=Component&kind=API&lifecycle=experimental").content.decode()
    assert 'href="?kind=Component&amp;lifecycle=experimental">Component <strong>1</strong>' in page


def test_an_htmx_request_gets_only_the_results(login, developer, import_text):
    import_text(FULL)
    response = login(developer).get(reverse("catalog:index"), {"q": "ledger"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body and "ledger" in body and 'id="result-count"' in body


def test_the_list_says_what_to_do_when_empty_or_nothing_matches(login, developer, import_text):
    client = login(developer)
    assert "The catalog is empty" in client.get(reverse("catalog:index")).content.decode()
    import_text(FULL)
    assert "Nothing matches these filters" in client.get(reverse("catalog:index"), {"q": "zzz"}).content.decode()


def test_counts_and_facets_change_the_moment_an_import_finishes(login, developer, import_text):
    import_text(FULL)
    client = login(developer)
    assert client.get(reverse("catalog:index"), {"kind": "API"}).context["page"].paginator.count == 2
    import_text(
        many_components(3)
        .replace("kind: Component", "kind: API")
        .replace("type: service", "type: grpc")
        .replace("lifecycle: production,", "lifecycle: production, definition: x,"),
        name="more",
    )
    response = client.get(reverse("catalog:index"), {"kind": "API"})
    assert response.context["page"].paginator.count == 5
    assert dict(response.context["facets"]["type"]) == {"grpc": 4, "openapi": 1}


def test_the_list_is_paginated_by_50(login, developer, import_text):
    import_text(many_components(60))
    response = login(developer).get(reverse("catalog:index"), {"kind": "Component", "page": 2})
    assert len(response.context["page"].object_list) == 10


def test_bad_filter_values_never_break_the_list(login, developer):
    response = login(developer).get(reverse("catalog:index"), {"kind": "Nope", "orphaned": "maybe", "page": "x"})
    assert response.status_code == 200


@pytest.mark.parametrize("ordering", ["", "-name", "lifecycle"])
def test_the_pages_of_the_list_show_every_row_once_in_order(login, developer, import_text, ordering):
    import_text(FULL)
    import_text(many_components(120), name="many")
    client = login(developer)
    params = {"kind": "Component", "ordering": ordering}
    order = {"": ["name", "kind", "pk"], "-name": ["-name", "pk"], "lifecycle": ["lifecycle", "pk"]}[ordering]
    expected = list(Entity.objects.filter(kind="Component").order_by(*order).values_list("name", flat=True))
    shown = []
    for number in (1, 2, 3):
        page = client.get(reverse("catalog:index"), {**params, "page": number}).content.decode()
        shown += re.findall(r'<tr><td><a href="/catalog/Component/default/([^/"]+)/"', page)
    assert shown == expected and len(shown) == 123


@pytest.mark.parametrize("size", [5, 120])
def test_the_list_page_runs_a_fixed_number_of_queries(
    login, developer, import_text, size, django_assert_max_num_queries
):
    import_text(FULL)
    import_text(many_components(size), name="many")
    client = login(developer)
    client.get(reverse("catalog:index"))
    params = {"kind": "Component", "tag": "gen", "ordering": "owner"}
    with django_assert_max_num_queries(12):  # first view of these filters: count and facets computed
        response = client.get(reverse("catalog:index"), params)
    assert response.status_code == 200
    with django_assert_max_num_queries(7):  # again: count and facets come from the per-version cache
        response = client.get(reverse("catalog:index"), {**params, "page": 2})
    assert response.status_code == 200
    with django_assert_max_num_queries(6):  # the same page again: its table is kept per version too
        again = client.get(reverse("catalog:index"), {**params, "page": 2})
    assert again.content.split(b'id="results"')[1] == response.content.split(b'id="results"')[1]


@pytest.mark.parametrize("size", [5, 120])
def test_the_entity_page_runs_a_fixed_number_of_queries(
    login, developer, import_text, size, django_assert_max_num_queries
):
    import_text(FULL)
    import_text(many_components(size), name="many")
    client = login(developer)
    url = reverse("catalog:entity", args=["Group", "default", "team-pay"])
    client.get(url)
    for tab in ("overview", "relations", "graph", "yaml"):
        with django_assert_max_num_queries(12):
            response = client.get(url, {"tab": tab})
        assert response.status_code == 200


def test_the_entity_page_shows_overview_relations_and_marks_unresolved_ones(login, developer, import_text):
    import_text(FULL.replace("dependsOn: [component:ledger, resource:orders-db]", "dependsOn: [component:ghost]"))
    body = login(developer).get(reverse("catalog:entity", args=["component", "default", "checkout"])).content.decode()
    assert "Takes orders." in body
    assert "Dashboard" in body and "github.com/project-slug" in body
    assert "team-pay" in body and "production" in body
    assert "Depends on" in body and "component:ghost" in body and "unresolved" in body


def test_the_graph_is_server_side_svg_and_stays_usable_with_200_neighbours(login, developer, import_text):
    hub = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: hub}\n"
        "spec: {type: service, lifecycle: production, owner: team-pay, dependsOn: ["
        + ", ".join(f"'component:dep-{i}'" for i in range(150))
        + "]}\n"
    )
    users = "\n---\n".join(
        f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: user-{i}}}\n"
        f"spec: {{type: service, lifecycle: production, owner: team-pay, dependsOn: ['component:hub']}}"
        for i in range(80)
    )
    import_text(hub + "---\n" + users)
    response = login(developer).get(reverse("catalog:entity", args=["component", "default", "hub"]), {"tab": "graph"})
    body = response.content.decode()
    svg_markup = body[body.index("<svg") : body.index("</svg>")]
    assert "<script" not in svg_markup and " on" not in svg_markup.replace(" one", "")
    graph = response.context["graph"]
    assert graph["count"] == 200 and graph["truncated"]
    svg = response.context["svg"]
    assert svg["height"] < 1000  # wrapped into columns, not one 7,000-pixel column
    assert body.count('class="node') == 201
    assert "dep-0 · component" in body and "unresolved" in body


def test_group_pages_list_members_child_groups_and_what_they_own(login, developer, import_text):
    import_text(FULL)
    body = login(developer).get(reverse("catalog:entity", args=["group", "default", "team-pay"])).content.decode()
    assert "Members" in body and "alice" in body and "bob" in body
    assert "Owns" in body and "checkout" in body and "orders-db" in body
    org = login(developer).get(reverse("catalog:entity", args=["group", "default", "org"])).content.decode()
    assert "Child groups" in org and "team-pay" in org


def test_entity_tabs_show_an_empty_state_until_an_app_registers_one(login, developer, import_text):
    import_text(FULL)
    url = reverse("catalog:entity", args=["component", "default", "checkout"])
    client = login(developer)
    saved = dict(registry.entity_tabs)
    registry.entity_tabs.clear()
    try:
        assert "will show here as tabs" in client.get(url).content.decode()
        register_entity_tab(
            EntityTab("runbooks", "Runbooks", "catalog/_example_tab.html", 10, lambda request, e: {"n": e.name})
        )
        body = client.get(url).content.decode()
        assert "will show here as tabs" not in body and "Runbooks" in body
        assert "tab content for checkout" in client.get(url, {"tab": "runbooks"}).content.decode()
    finally:
        registry.entity_tabs.clear()
        registry.entity_tabs.update(saved)


def test_the_yaml_tab_shows_the_descriptor(login, developer, import_text):
    import_text(FULL)
    body = login(developer).get(reverse("catalog:entity", args=["api", "default", "checkout-api"]), {"tab": "yaml"})
    assert "definition: &#x27;openapi: 3.0.0&#x27;" in body.content.decode()


def test_an_unknown_entity_is_a_404(login, developer):
    assert login(developer).get(reverse("catalog:entity", args=["component", "default", "nope"])).status_code == 404


def test_pages_need_a_sign_in(client):
    response = client.get(reverse("catalog:index"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- forms and permissions ----------------------------------------------------------


def test_a_team_member_edits_their_teams_entity(team, login, teammate):
    url = reverse("catalog:edit", args=["component", "default", "svc-a"])
    client = login(teammate)
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if k not in ("kind", "namespace", "name")}
    data.update(description="Now with docs", tags="python, pci")
    response = client.post(url, data)
    assert response.status_code == 302
    svc = entity("component:default/svc-a")
    assert svc.description == "Now with docs" and svc.tags == ["python", "pci"]


def test_a_stranger_cannot_edit_the_entity(team, login, stranger):
    client = login(stranger)
    url = reverse("catalog:edit", args=["component", "default", "svc-a"])
    assert client.get(url).status_code == 403
    assert client.post(url, {"description": "hijacked", "owner": "team-a"}).status_code == 403
    assert entity("component:default/svc-a").description == "Service of team A"
    page = client.get(reverse("catalog:entity", args=["component", "default", "svc-a"])).content.decode()
    assert "read-only" in page and "/edit/" not in page


def test_a_team_member_cannot_edit_another_teams_entity(team, login, developer):
    assert login(developer).get(reverse("catalog:edit", args=["component", "default", "svc-b"])).status_code == 403


def test_a_platform_admin_edits_any_entity(team, login, platform_admin):
    url = reverse("catalog:edit", args=["component", "default", "svc-b"])
    client = login(platform_admin)
    data = dict(client.get(url).context["form"].initial)
    data["title"] = "Service B"
    assert client.post(url, data).status_code == 302
    assert entity("component:default/svc-b").title == "Service B"


def test_a_team_member_creates_an_entity_owned_by_their_team_only(team, login, developer):
    client = login(developer)
    data = {
        "kind": "Component",
        "namespace": "default",
        "name": "new-svc",
        "type": "service",
        "lifecycle": "experimental",
        "owner": "team-b",
    }
    response = client.post(reverse("catalog:create"), data)
    assert response.status_code == 200 and "The owner must be one of your teams" in response.content.decode()
    data["owner"] = "team-a"
    response = client.post(reverse("catalog:create"), data)
    assert response.status_code == 302
    assert entity("component:default/new-svc").owner_ref == "group:default/team-a"


def test_the_create_form_explains_invalid_input(team, login, developer):
    data = {"kind": "Component", "namespace": "default", "name": "bad name!", "owner": "team-a"}
    response = login(developer).post(reverse("catalog:create"), data)
    assert response.status_code == 200
    assert "not a valid name" in response.content.decode()


def test_someone_in_no_team_cannot_create(login, stranger):
    assert login(stranger).get(reverse("catalog:create")).status_code == 403


def test_owners_and_admins_delete_entities_and_strangers_cannot(team, login, stranger, teammate):
    url = reverse("catalog:delete", args=["component", "default", "svc-a"])
    assert login(stranger).post(url).status_code == 403
    assert Entity.objects.filter(name="svc-a").exists()
    assert login(teammate).post(url).status_code == 302
    assert not Entity.objects.filter(name="svc-a").exists()


def test_the_import_page_imports_pasted_yaml_and_reports_problems(team, login, developer):
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: pasted}\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n---\nkind: Nope\n"
    )
    response = login(developer).post(reverse("catalog:import"), {"text": text, "name": "mine"})
    body = response.content.decode()
    assert "1 created" in body and "is required" in body
    assert entity("component:default/pasted").source == "upload:team:default/team-a:mine"


def test_the_import_page_takes_an_upload_and_refuses_one_over_the_limit(team, login, developer, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = (
        b"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: uploaded}\n"
        b"spec: {type: service, lifecycle: production, owner: team-a}\n"
    )
    client = login(developer)
    response = client.post(reverse("catalog:import"), {"file": SimpleUploadedFile("catalog-info.yaml", text)})
    assert "1 created" in response.content.decode()
    settings.CATALOG_UPLOAD_MAX_BYTES = 50
    response = client.post(reverse("catalog:import"), {"file": SimpleUploadedFile("big.yaml", text)})
    assert "larger than the limit" in response.content.decode()


def test_an_uploaded_document_with_a_nul_character_is_reported_and_the_others_import(team, login, developer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = (
        b"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: fine}\n"
        b"spec: {type: service, lifecycle: production, owner: team-a}\n---\n"
        b'apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: nul, title: "x\\0y"}\n'
        b"spec: {type: service, lifecycle: production, owner: team-a}\n"
    )
    response = login(developer).post(reverse("catalog:import"), {"file": SimpleUploadedFile("c.yaml", text)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 created" in page
    assert "metadata.title" in page and "contains a NUL character" in page
    assert Entity.objects.filter(name="fine").exists() and not Entity.objects.filter(name="nul").exists()


def test_only_platform_admins_import_server_folders_from_the_page(team, login, developer, tmp_path, settings):
    settings.CATALOG_IMPORT_ROOTS = [str(tmp_path)]
    response = login(developer).post(reverse("catalog:import"), {"path": str(tmp_path)})
    assert "Only Platform Admins" in response.content.decode()


def test_export_of_a_filtered_list_downloads_yaml(login, developer, import_text):
    import_text(FULL)
    response = login(developer).get(reverse("catalog:export"), {"kind": "API"})
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "application/yaml"
    assert body.count("kind: API") == 2 and "kind: Component" not in body


def test_platform_admins_delete_orphans_from_the_list(login, platform_admin, developer, import_text):
    import_text(FULL)
    import_text(FULL.split("---")[0])
    assert Entity.objects.filter(orphaned=True).count() == 13
    assert login(developer).post(reverse("catalog:delete-orphans")).status_code == 403
    page = login(platform_admin).get(reverse("catalog:index"), {"orphaned": "true"}).content.decode()
    assert reverse("catalog:orphans") in page  # the list first, then the deletion
    reviewed = services.orphans_digest()
    assert login(platform_admin).post(reverse("catalog:delete-orphans"), {"reviewed": reviewed}).status_code == 302
    assert Entity.objects.count() == 1


def test_the_demo_catalog_links_the_demo_users_to_teams(django_user_model):
    users = {name: django_user_model.objects.create_user(username=name) for name in ("developer", "approver", "admin")}
    created = services.demo_catalog_ensure(users=users)
    assert created >= 50
    assert services.demo_catalog_ensure(users=users) == 0
    from catalog import selectors

    assert [t.name for t in selectors.teams_of(users["developer"])] == ["team-payments"]
    assert selectors.entities_owned_by_user(users["developer"]).count() >= 10
    assert Entity.objects.filter(kind="Component").count() >= 20
    assert Entity.objects.filter(kind="API", spec__type="openapi").count() >= 5
    assert not Entity.objects.filter(relations__target__isnull=True).exists()


def test_links_with_other_schemes_than_http_are_not_made_clickable(login, developer, import_text):
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata:
          name: g
          links: [{url: "javascript:alert(1)", title: Evil}, {url: "https://ok.example.com", title: Fine}]
        spec: {type: team}
        """
    )
    body = login(developer).get(reverse("catalog:entity", args=["group", "default", "g"])).content.decode()
    assert 'href="javascript:' not in body
    assert 'href="https://ok.example.com"' in body


def test_an_edit_writes_one_audit_event(team, login, teammate):
    from portal.models import AuditEvent

    url = reverse("catalog:edit", args=["component", "default", "svc-a"])
    client = login(teammate)
    data = {k: v for k, v in client.get(url).context["form"].initial.items() if k not in ("kind", "namespace", "name")}
    before = AuditEvent.objects.count()
    client.post(url, {**data, "title": "A"})
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[before:] == ["catalog.entity.update"]


def test_pasting_more_than_a_form_takes_says_to_upload_a_file(team, login, platform_admin):
    response = login(platform_admin).post(reverse("catalog:import"), {"text": "# " + "x" * 3_000_000})
    assert response.status_code == 200
    assert "Save it as a file and upload it instead" in response.content.decode()
