import json

import pytest

from incidents import lifecycle
from knowledge import services
from knowledge.models import Page

pytestmark = pytest.mark.django_db

API = "/api/knowledge"


@pytest.fixture
def api(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


def test_the_api_needs_authentication(client, page):
    response = client.get(f"{API}/pages/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_spaces_are_listed_and_created_by_team_members(api, developer, stranger, team, space):
    assert [s["key"] for s in api(stranger).get(f"{API}/spaces/").json()["results"]] == ["payments"]
    response = api(stranger).post(f"{API}/spaces/", {"key": "x", "name": "X", "owner_id": team.pk})
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    response = api(developer).post(f"{API}/spaces/", {"key": "x", "name": "X", "owner_id": team.pk})
    assert response.status_code == 201 and response.json()["owner"] == team.name


@pytest.mark.parametrize(
    ("who", "can_write"),
    [("developer", True), ("teammate", True), ("stranger", False), ("platform_admin", True)],
)
def test_role_by_endpoint_matrix_for_pages(request, api, page, who, can_write):
    user = request.getfixturevalue(who)
    client = api(user)
    assert client.get(f"{API}/pages/{page.pk}/").status_code == 200
    create = client.post(
        f"{API}/pages/", {"space": "payments", "title": f"By {who}", "body": "x"}, content_type="application/json"
    )
    update = client.patch(
        f"{API}/pages/{page.pk}/",
        {"title": page.title, "body": f"edit by {who}", "base_revision": page.current_revision_id},
        content_type="application/json",
    )
    revert = client.post(f"{API}/pages/{page.pk}/revert/", {"revision": 1}, content_type="application/json")
    expected = (201, 200, 201) if can_write else (403, 403, 403)
    assert (create.status_code, update.status_code, revert.status_code) == expected


def test_the_open_space_lets_a_stranger_write_through_the_api(api, stranger, space, page):
    space.open_for_edit = True
    space.save()
    response = api(stranger).post(
        f"{API}/pages/", {"space": "payments", "title": "Open", "body": "x"}, content_type="application/json"
    )
    assert response.status_code == 201


def test_page_detail_returns_sanitized_html(api, developer, space):
    page = services.page_create(actor=developer, space=space, title="X", body="**b** <script>x</script>")
    data = api(developer).get(f"{API}/pages/{page.pk}/").json()
    assert "<strong>b</strong>" in data["html"] and "<script" not in data["html"]
    assert data["revision"] == 1 and data["body"].startswith("**b**")


def test_an_api_edit_from_an_old_revision_is_a_409_with_the_diff(api, developer, teammate, page):
    base = page.current_revision_id
    services.page_update(actor=developer, page=page, title=page.title, body="first", base_revision_id=base)
    response = api(teammate).put(
        f"{API}/pages/{page.pk}/",
        {"title": page.title, "body": "second", "base_revision": base},
        content_type="application/json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and "+second" in error["details"]["diff"]
    page.refresh_from_db()
    assert page.body == "first"


def test_an_api_edit_without_base_revision_is_refused_clearly(api, developer, page):
    response = api(developer).patch(f"{API}/pages/{page.pk}/", {"body": "x"}, content_type="application/json")
    assert response.status_code == 400 and "base_revision" in response.json()["error"]["message"]


def test_revisions_diff_and_revert_through_the_api(api, developer, page):
    services.page_update(
        actor=developer, page=page, title=page.title, body="two", base_revision_id=page.current_revision_id
    )
    client = api(developer)
    revisions = client.get(f"{API}/pages/{page.pk}/revisions/").json()
    assert [r["number"] for r in revisions["results"]] == [2, 1]
    assert client.get(f"{API}/pages/{page.pk}/revisions/1/").json()["body"] == "# Checkout\n\nHello."
    diff = client.get(f"{API}/pages/{page.pk}/diff/?a=1&b=2").json()
    assert "+two" in diff["diff"]
    assert client.get(f"{API}/pages/{page.pk}/diff/?a=x").status_code == 400
    response = client.post(f"{API}/pages/{page.pk}/revert/", {"revision": 1}, content_type="application/json")
    assert response.status_code == 201 and response.json()["number"] == 3


def test_delete_through_the_api(api, developer, stranger, page):
    assert api(stranger).delete(f"{API}/pages/{page.pk}/").status_code == 403
    assert api(developer).delete(f"{API}/pages/{page.pk}/").status_code == 204
    assert not Page.objects.filter(pk=page.pk).exists()


def test_search_through_the_api(api, developer, page):
    data = api(developer).get(f"{API}/search/?q=hello").json()
    assert [r["page"]["title"] for r in data["results"]] == ["Checkout overview"]


def test_search_through_the_api_costs_the_same_queries_for_3_or_12_results(api, developer, space):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(developer)
    counts = []
    for total, word in ((3, "gizmo"), (12, "widget")):
        for n in range(total):
            services.page_create(actor=developer, space=space, title=f"{word} {n}", body=f"About the {word}.")
        with CaptureQueriesContext(connection) as queries:
            results = client.get(f"{API}/search/?q={word}").json()["results"]
        assert len(results) == total and all(r["page"]["revision"] == 1 for r in results)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_search_through_the_api_pages_like_the_other_lists_and_keeps_the_filters(api, developer, space):
    from tests.knowledge.test_search import _notes

    for page in _notes(space, 25):
        page.kind = "runbook"
        page.save(update_fields=["kind"])
    _notes(space, 5, prefix="Article")  # the same word, another kind
    client = api(developer)
    first = client.get(f"{API}/search/?q=gadget&kind=runbook&page_size=10").json()
    assert (first["count"], first["count_exact"], first["listed"], first["previous"]) == (25, True, 25, None)
    assert "q=gadget" in first["next"] and "kind=runbook" in first["next"] and "page=2" in first["next"]
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    assert third["next"] is None and "page=2" in third["previous"]
    assert "page=" not in second["previous"]  # DRF's way: page 1 without the parameter
    ids = [r["page"]["id"] for data in (first, second, third) for r in data["results"]]
    assert len(ids) == len(set(ids)) == 25
    assert all(r["page"]["kind"] == "runbook" for data in (first, second, third) for r in data["results"])


def test_a_search_page_past_the_end_is_empty_and_a_bad_page_is_explained(api, developer, space):
    from tests.knowledge.test_search import _notes

    _notes(space, 3)
    client = api(developer)
    past = client.get(f"{API}/search/?q=gadget&page=5")
    assert past.status_code == 200
    data = past.json()
    assert data["results"] == [] and data["count"] == 3 and data["next"] is None
    assert "page=" not in data["previous"]  # back to the last page, here the first
    bad = client.get(f"{API}/search/?q=gadget&page=zero")
    assert bad.status_code == 400 and "page" in str(bad.json()["error"])
    too_big = client.get(f"{API}/search/?q=gadget&page_size=1000")
    assert too_big.status_code == 400


def test_incidents_through_the_api(api, developer, stranger, runbook, service):
    client = api(developer)
    response = client.post(
        "/api/incidents/",
        {"runbook": runbook.pk, "entity": service.pk, "severity": "sev1"},
        content_type="application/json",
    )
    assert response.status_code == 201
    incident = response.json()
    assert [s["text"] for s in incident["steps"]] == ["Check the dashboard", "Roll back"]
    iid = incident["id"]
    denied = api(stranger).post(
        f"/api/incidents/{iid}/steps/", {"number": 1, "done": True}, content_type="application/json"
    )
    assert denied.status_code == 403
    client = api(developer)
    step = client.post(
        f"/api/incidents/{iid}/steps/", {"number": 1, "done": True, "note": "ok"}, content_type="application/json"
    )
    assert step.status_code == 200 and step.json()["done"] is True
    closed = client.post(f"/api/incidents/{iid}/close/", {"outcome": "mitigated"}, content_type="application/json")
    assert closed.status_code == 200 and closed.json()["closed_at"]
    listed = client.get(f"/api/incidents/?entity={service.pk}").json()["results"]
    assert [i["id"] for i in listed] == [iid]


def test_the_page_list_needs_the_same_queries_for_many_pages(api, developer, space, django_assert_max_num_queries):
    for n in range(30):
        services.page_create(actor=developer, space=space, title=f"P{n}", body="x" * 1000)
    client = api(developer)
    with django_assert_max_num_queries(8):
        data = client.get(f"{API}/pages/?space=payments").json()
    assert data["count"] == 30 and "body" not in data["results"][0]


def test_an_incident_can_only_name_one_of_the_runbooks_services(api, developer, runbook, team):
    from catalog import services as catalog
    from catalog.models import Entity
    from incidents.models import Incident

    catalog.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: billing}\n"
        f"spec: {{type: service, lifecycle: production, owner: {team.name}}}\n",
        name="billing",
    )
    unrelated = Entity.objects.get(ref_key="component:default/billing")
    response = api(developer).post(
        "/api/incidents/",
        {"runbook": runbook.pk, "entity": unrelated.pk, "severity": "sev1"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not one of this runbook's services" in response.json()["error"]["message"]
    assert not Incident.objects.exists()


def test_a_postmortem_links_its_incident_and_deployment_through_the_api(api, developer, runbook, space):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = api(developer)
    created = client.post(
        f"{API}/pages/",
        {"space": space.key, "title": "PM", "kind": "postmortem", "incident": incident.pk, "deployment_ref": "d-1"},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert (created.json()["incident"], created.json()["deployment_ref"]) == (incident.pk, "d-1")

    later = client.post(
        f"{API}/pages/", {"space": space.key, "title": "PM 2", "kind": "postmortem"}, content_type="application/json"
    ).json()
    patched = client.patch(
        f"{API}/pages/{later['id']}/",
        {"base_revision": later["revision_id"], "incident": incident.pk, "deployment_ref": "d-2"},
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert (patched.json()["incident"], patched.json()["deployment_ref"]) == (incident.pk, "d-2")
    assert patched.json()["body"] == later["body"]
    assert set(Page.objects.filter(incident_id=incident.pk).values_list("title", flat=True)) == {"PM", "PM 2"}


def test_incident_links_are_refused_clearly_through_the_api(api, developer, runbook, space):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = api(developer)
    unknown = client.post(
        f"{API}/pages/",
        {"space": space.key, "title": "PM", "kind": "postmortem", "incident": 99999},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and "There is no incident with that number." in str(unknown.json())
    article = client.post(
        f"{API}/pages/",
        {"space": space.key, "title": "Note", "kind": "article", "incident": incident.pk},
        content_type="application/json",
    )
    assert article.status_code == 400 and "Only postmortems" in article.json()["error"]["message"]
    assert not Page.objects.filter(title__in=["PM", "Note"]).exists()


def test_a_space_key_with_a_nul_character_is_a_clear_400(api, developer, space):
    response = api(developer).post(
        f"{API}/pages/", {"space": "pay\x00ments", "title": "X"}, content_type="application/json"
    )
    assert response.status_code == 400 and "space" in json.dumps(response.json())
