import pytest
from django.urls import reverse

from knowledge import selectors, services
from knowledge.models import Incident
from portal.services import PermissionDenied, ServiceError

pytestmark = pytest.mark.django_db


def test_an_incident_runs_end_to_end_through_the_browser(login, stranger, developer, runbook, service):
    client = login(stranger)  # on-call is not always in the owning team
    response = client.post(
        reverse("knowledge:incident-start", args=[runbook.space.key, runbook.slug]),
        {"entity": service.pk, "severity": "sev2", "summary": "Checkout 500s"},
    )
    incident = Incident.objects.get()
    assert response["Location"] == incident.get_absolute_url()
    assert (incident.started_by, incident.entity, incident.severity) == (stranger, service, "sev2")
    assert [s.text for s in incident.steps.all()] == ["Check the dashboard", "Roll back"]

    # htmx checks a step off and returns just that step.
    response = client.post(
        reverse("knowledge:incident-step", args=[incident.pk, 1]),
        {"done": "on", "note": "error rate 30 %"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b'id="knowledge-step-1"' in response.content
    assert b"checked" in response.content
    step = incident.steps.get(number=1)
    assert step.done and step.done_by == stranger and step.note == "error rate 30 %" and step.done_at

    response = client.post(
        reverse("knowledge:incident-close", args=[incident.pk]), {"outcome": "resolved", "notes": "rolled back"}
    )
    incident.refresh_from_db()
    assert incident.outcome == "resolved" and incident.closed_at >= incident.started_at
    # The history stays on the runbook.
    assert f"#{incident.pk}".encode() in client.get(runbook.get_absolute_url()).content


def test_a_closed_incident_cannot_change(developer, runbook):
    incident = services.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    services.incident_close(actor=developer, incident=incident, outcome="false_alarm")
    with pytest.raises(ServiceError, match="closed"):
        services.incident_step_set(actor=developer, incident=incident, number=1, done=True)
    with pytest.raises(ServiceError, match="already closed"):
        services.incident_close(actor=developer, incident=incident, outcome="resolved")


def test_someone_outside_the_incident_and_team_cannot_tick_steps(developer, stranger, runbook):
    incident = services.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    with pytest.raises(PermissionDenied):
        services.incident_step_set(actor=stranger, incident=incident, number=1, done=True)


def test_articles_cannot_start_incidents(developer, page):
    with pytest.raises(ServiceError, match="runbook"):
        services.incident_start(actor=developer, runbook=page, entity=None, severity="sev3")


def test_a_bad_severity_is_refused(developer, runbook):
    with pytest.raises(ServiceError, match="severity"):
        services.incident_start(actor=developer, runbook=runbook, entity=None, severity="urgent!!")


def test_incidents_per_entity_report_start_and_end_for_dora(developer, runbook, service):
    open_one = services.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev1")
    closed = services.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
    services.incident_close(actor=developer, incident=closed, outcome="resolved")
    services.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    windows = selectors.incidents_for_entities(entity_ids=[service.pk])
    assert [w.incident_id for w in windows] == [open_one.pk, closed.pk]
    assert windows[0].ended_at is None
    assert windows[1].ended_at is not None and windows[1].ended_at >= windows[1].started_at
    assert windows[1].outcome == "resolved" and windows[1].entity_id == service.pk


def test_a_postmortem_links_to_its_incident_and_deployment(login, developer, runbook, space):
    incident = services.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    pm = services.page_create(
        actor=developer, space=space, title="PM", kind="postmortem", incident=incident, deployment_ref="deploy-42"
    )
    content = login(developer).get(pm.get_absolute_url()).content.decode()
    assert f"incident #{incident.pk}" in content and "deploy-42" in content


def test_the_entity_tab_lists_the_runbooks_of_a_service(runbook, service, rf, developer):
    from django.template.loader import render_to_string

    from portal.extensions import entity_tabs

    tab = next(t for t in entity_tabs() if t.key == "runbooks")
    request = rf.get("/")
    request.user = developer
    html = render_to_string(tab.template, {"entity": service, **tab.context(request, service)}, request=request)
    assert runbook.title in html and runbook.get_absolute_url() in html


def test_the_home_page_shows_recently_edited_runbooks(login, developer, runbook):
    content = login(developer).get("/").content.decode()
    assert "Recently edited runbooks" in content and runbook.title in content


def test_write_a_postmortem_from_an_incident_links_them(login, developer, runbook):
    incident = services.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = login(developer)
    incident_page = client.get(incident.get_absolute_url()).content.decode()
    assert f"incident={incident.pk}" in incident_page
    form = client.get(
        reverse("knowledge:page-create", args=[runbook.space.key]) + f"?kind=postmortem&incident={incident.pk}"
    )
    assert f'name="incident" value="{incident.pk}"' in form.content.decode()
    response = client.post(
        reverse("knowledge:page-create", args=[runbook.space.key]),
        {"title": "PM 1", "kind": "postmortem", "body": "", "incident": incident.pk, "deployment_ref": "deploy-7"},
    )
    assert response.status_code == 302
    assert incident.postmortems.get().deployment_ref == "deploy-7"
