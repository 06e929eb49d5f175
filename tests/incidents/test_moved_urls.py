"""Incidents were part of the knowledge base (/knowledge/incidents/..., /api/knowledge/incidents/...) until
they got their own app: links in chat, bookmarks and API clients that use the old addresses still work."""

import json

import pytest

from incidents import lifecycle
from incidents.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(developer, runbook, service):
    return lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")


def test_old_incident_pages_redirect_permanently_to_the_new_ones(login, developer, incident, runbook, service):
    client = login(developer)
    for old, new in [
        ("/knowledge/incidents/", "/incidents/"),
        (f"/knowledge/incidents/?entity={service.pk}&page=2", f"/incidents/?entity={service.pk}&page=2"),
        (f"/knowledge/incidents/{incident.pk}/", f"/incidents/{incident.pk}/"),
        (f"/knowledge/incidents/{incident.pk}/steps/", f"/incidents/{incident.pk}/steps/"),
    ]:
        response = client.get(old)
        assert (response.status_code, response["Location"]) == (301, new), old
        assert client.get(new).status_code == 200
    # Signed out too: the redirect comes first, the new page asks to sign in.
    client.logout()
    assert client.get(f"/knowledge/incidents/{incident.pk}/")["Location"] == f"/incidents/{incident.pk}/"


def test_a_form_posted_to_an_old_address_keeps_its_method_and_still_works(login, developer, incident, runbook):
    client = login(developer)
    old_start = f"/knowledge/s/{runbook.space.key}/p/{runbook.slug}/incidents/start/"
    response = client.post(old_start, {"severity": "sev3"})
    assert response.status_code == 308
    assert response["Location"] == f"/incidents/runbooks/{runbook.space.key}/{runbook.slug}/start/"
    assert Incident.objects.count() == 1  # the redirect itself starts nothing

    response = client.post(f"/knowledge/incidents/{incident.pk}/steps/1/", {"done": "on"}, follow=True)
    assert response.redirect_chain[0] == (f"/incidents/{incident.pk}/steps/1/", 308)
    assert incident.steps.get(number=1).done
    response = client.post(f"/knowledge/incidents/{incident.pk}/close/", {"outcome": "resolved"}, follow=True)
    assert response.redirect_chain[0] == (f"/incidents/{incident.pk}/close/", 308)
    incident.refresh_from_db()
    assert incident.outcome == "resolved"


def test_the_old_api_redirects_with_308_so_a_post_keeps_its_method_and_body(client, developer, incident, runbook):
    client.force_login(developer)
    listed = client.get("/api/knowledge/incidents/?open=true")
    assert (listed.status_code, listed["Location"]) == (308, "/api/incidents/?open=true")
    assert client.get(f"/api/knowledge/incidents/{incident.pk}/")["Location"] == f"/api/incidents/{incident.pk}/"
    body = json.dumps({"runbook": runbook.pk, "severity": "sev3", "summary": "via the old address"})
    response = client.post("/api/knowledge/incidents/", body, content_type="application/json", follow=True)
    assert response.redirect_chain == [("/api/incidents/", 308)]
    assert response.status_code == 201 and response.json()["summary"] == "via the old address"
    step = client.post(
        f"/api/knowledge/incidents/{incident.pk}/steps/",
        json.dumps({"number": 2, "done": True}),
        content_type="application/json",
        follow=True,
    )
    assert step.status_code == 200 and step.json()["done"] is True
    closed = client.post(
        f"/api/knowledge/incidents/{incident.pk}/close/",
        json.dumps({"outcome": "mitigated"}),
        content_type="application/json",
        follow=True,
    )
    assert closed.status_code == 200 and closed.json()["outcome"] == "mitigated"


def test_a_postmortem_links_to_the_incidents_new_address(login, developer, incident, space):
    from knowledge import services as knowledge

    pm = knowledge.page_create(actor=developer, space=space, title="PM", kind="postmortem", incident=incident.pk)
    content = login(developer).get(pm.get_absolute_url()).content.decode()
    assert f'Postmortem of <a href="/incidents/{incident.pk}/">incident #{incident.pk}</a>' in content


def test_the_main_navigation_leads_to_incidents_and_marks_it_current(login, developer, incident):
    client = login(developer)
    home = client.get("/").content.decode()
    assert '<a href="/incidents/" >Incidents</a>' in home
    listed = client.get("/incidents/").content.decode()
    assert '<a href="/incidents/" aria-current="page">Incidents</a>' in listed
    assert '<a href="/knowledge/" aria-current="page">' not in listed
