"""Long lists are paginated, or show the first items with a link to the complete, paginated list."""

import pytest
from django.urls import reverse

from incidents import lifecycle
from incidents import views as incident_views
from knowledge import apps, services, views

pytestmark = pytest.mark.django_db


def titles_in(body, titles):
    return [t for t in titles if f">{t}<" in body]


def test_the_space_tree_is_paginated(login, developer, space, monkeypatch):
    monkeypatch.setattr(views, "TREE_PAGES_PER_PAGE", 2)
    titles = [f"Page {n}" for n in range(5)]
    for title in titles:
        services.page_create(actor=developer, space=space, title=title)
    client = login(developer)
    first = client.get(space.get_absolute_url()).content.decode()
    assert titles_in(first, titles) == titles[:2] and "Page 1 of 3 (5 in all)" in first and "?page=2" in first
    last = client.get(space.get_absolute_url(), {"page": 3}).content.decode()
    assert titles_in(last, titles) == titles[4:]


def test_the_spaces_on_the_index_are_paginated(login, developer, team, monkeypatch):
    monkeypatch.setattr(views, "SPACES_PER_PAGE", 2)
    for n in range(3):
        services.space_create(actor=developer, key=f"s{n}", name=f"Space {n}", owner=team)
    client = login(developer)
    first = client.get(reverse("knowledge:index")).content.decode()
    assert titles_in(first, ["Space 0", "Space 1", "Space 2"]) == ["Space 0", "Space 1"] and "?page=2" in first
    assert titles_in(client.get(reverse("knowledge:index"), {"page": 2}).content.decode(), ["Space 2"]) == ["Space 2"]


def test_the_children_of_a_page_are_paginated(login, developer, space, page, monkeypatch):
    monkeypatch.setattr(views, "CHILDREN_PER_PAGE", 2)
    titles = [f"Child {n}" for n in range(3)]
    for n, title in enumerate(titles):
        services.page_create(actor=developer, space=space, title=title, parent=page, position=n)
    client = login(developer)
    first = client.get(page.get_absolute_url()).content.decode()
    assert titles_in(first, titles) == titles[:2] and "?page=2" in first
    assert titles_in(client.get(page.get_absolute_url(), {"page": 2}).content.decode(), titles) == titles[2:]


def test_the_entity_tab_links_to_all_its_pages_and_incidents(login, developer, runbook, service, monkeypatch):
    monkeypatch.setattr(apps, "TAB_PAGES", 1)
    monkeypatch.setattr(views, "SEARCH_PER_PAGE", 1)
    monkeypatch.setattr(incident_views, "INCIDENTS_PER_PAGE", 1)
    other = services.page_create(actor=developer, space=runbook.space, title="Checkout design", entity_ids=[service.pk])
    services.page_create(actor=developer, space=runbook.space, title="Unrelated")
    first = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev3")
    lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
    lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = login(developer)
    url = reverse("catalog:entity", args=[service.kind, service.namespace, service.name])
    tab = client.get(url, {"tab": "runbooks"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'href="/knowledge/search/?entity={service.pk}">All 2 pages linked to' in tab
    # The service's incidents are on its Alerts tab now (the incidents app's).
    alerts = client.get(url, {"tab": "alerts"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'href="/incidents/?entity={service.pk}">All incidents of' in alerts

    listing = client.get("/knowledge/search/", {"entity": service.pk}).content.decode()
    assert titles_in(listing, ["Checkout design", "Checkout is down", "Unrelated"]) == ["Checkout design"]
    assert f"?entity={service.pk}&amp;page=2" in listing and "2 results · showing 1–1" in listing
    second = client.get("/knowledge/search/", {"entity": service.pk, "page": 2}).content.decode()
    assert titles_in(second, ["Checkout design", "Checkout is down", "Unrelated"]) == ["Checkout is down"]
    assert other.get_absolute_url() not in second

    incidents = client.get("/incidents/", {"entity": service.pk}).content.decode()
    assert "(2 in all)" in incidents and f"entity={service.pk}&page=2" in incidents
    older = client.get("/incidents/", {"entity": service.pk, "page": 2}).content.decode()
    assert first.get_absolute_url() in older


def test_a_runbook_links_to_all_its_incidents(login, developer, runbook, monkeypatch):
    monkeypatch.setattr(incident_views, "RUNBOOK_INCIDENTS_SHOWN", 1)
    monkeypatch.setattr(incident_views, "INCIDENTS_PER_PAGE", 1)
    first = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    other = services.page_create(actor=developer, space=runbook.space, title="Other", kind="runbook")
    lifecycle.incident_start(actor=developer, runbook=other, entity=None, severity="sev2")
    client = login(developer)
    shown = client.get(runbook.get_absolute_url()).content.decode()
    assert f'href="/incidents/?runbook={runbook.pk}">All 2 incidents' in shown
    incidents = client.get("/incidents/", {"runbook": runbook.pk}).content.decode()
    assert "(2 in all)" in incidents and f"?runbook={runbook.pk}&page=2" in incidents
    older = client.get("/incidents/", {"runbook": runbook.pk, "page": 2}).content.decode()
    assert first.get_absolute_url() in older
