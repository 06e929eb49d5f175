"""Incidents worked through a runbook: start, steps, close, postmortems and what DORA hears (they were the
knowledge base's until incidents got their own app)."""

import html

import pytest
from django.urls import reverse

from incidents import lifecycle
from incidents import selectors as incident_selectors
from incidents.models import Incident
from knowledge import services
from knowledge.models import Page
from portal.services import PermissionDenied, ServiceError

pytestmark = pytest.mark.django_db


def test_an_incident_runs_end_to_end_through_the_browser(login, teammate, developer, runbook, service):
    stranger = teammate  # on-call: a member of the owning team who did not write the runbook
    client = login(stranger)
    response = client.post(
        reverse("incidents:start", args=[runbook.space.key, runbook.slug]),
        {"entity": service.pk, "severity": "sev2", "summary": "Checkout 500s"},
    )
    incident = Incident.objects.get()
    assert response["Location"] == incident.get_absolute_url()
    assert (incident.started_by, incident.entity, incident.severity) == (stranger, service, "sev2")
    assert [s.text for s in incident.steps.all()] == ["Check the dashboard", "Roll back"]

    # htmx checks a step off and returns just that step.
    response = client.post(
        reverse("incidents:step", args=[incident.pk, 1]),
        {"done": "on", "note": "error rate 30 %"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b'id="knowledge-step-1"' in response.content
    assert b"checked" in response.content
    step = incident.steps.get(number=1)
    assert step.done and step.done_by == stranger and step.note == "error rate 30 %" and step.done_at

    response = client.post(
        reverse("incidents:close", args=[incident.pk]), {"outcome": "resolved", "notes": "rolled back"}
    )
    incident.refresh_from_db()
    assert incident.outcome == "resolved" and incident.closed_at >= incident.started_at
    # The history stays on the runbook.
    assert f"#{incident.pk}".encode() in client.get(runbook.get_absolute_url()).content


def test_a_developer_outside_the_team_cannot_start_an_incident_on_its_service_through_the_api(
    client, stranger, runbook, service, django_capture_on_commit_callbacks
):
    """The review's hole: a signed-in developer in no team paged another team with a sev1."""
    from portal.models import Delivery, Notification, TeamChatWebhook

    TeamChatWebhook.objects.create(team_ref=service.owner_ref, url="https://chat.example.com/hooks/1")
    client.force_login(stranger)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/api/incidents/",
            {"runbook": runbook.pk, "entity": service.pk, "severity": "sev1", "summary": "<!channel> sign in"},
            content_type="application/json",
        )
    assert response.status_code == 403
    assert "Only the team that owns component:default/checkout-api" in response.json()["error"]["message"]
    assert not Incident.objects.exists() and not Notification.objects.exists() and not Delivery.objects.exists()


def test_the_browser_form_refuses_the_same_stranger_with_the_reason(login, stranger, runbook, service):
    client = login(stranger)
    response = client.post(
        reverse("incidents:start", args=[runbook.space.key, runbook.slug]),
        {"entity": service.pk, "severity": "sev1"},
        follow=True,
    )
    assert "Only the team that owns component:default/checkout-api" in response.content.decode()
    assert not Incident.objects.exists()


def test_approvers_and_platform_admins_may_start_an_incident_on_any_service(approver, platform_admin, runbook, service):
    for actor in (approver, platform_admin):
        assert lifecycle.incident_start(actor=actor, runbook=runbook, entity=service, severity="sev2").entity == service


def test_a_closed_incident_cannot_change(developer, runbook):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    lifecycle.incident_close(actor=developer, incident=incident, outcome="false_alarm")
    with pytest.raises(ServiceError, match="closed"):
        lifecycle.incident_step_set(actor=developer, incident=incident, number=1, done=True)
    with pytest.raises(ServiceError, match="already closed"):
        lifecycle.incident_close(actor=developer, incident=incident, outcome="resolved")


def test_someone_outside_the_incident_and_team_cannot_tick_steps(developer, stranger, runbook):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    with pytest.raises(PermissionDenied):
        lifecycle.incident_step_set(actor=stranger, incident=incident, number=1, done=True)


def test_articles_cannot_start_incidents(developer, page):
    with pytest.raises(ServiceError, match="runbook"):
        lifecycle.incident_start(actor=developer, runbook=page, entity=None, severity="sev3")


def test_a_bad_severity_is_refused(developer, runbook):
    with pytest.raises(ServiceError, match="severity"):
        lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="urgent!!")


def test_incidents_per_entity_report_start_and_end_for_dora(developer, runbook, service):
    open_one = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev1")
    closed = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
    lifecycle.incident_close(actor=developer, incident=closed, outcome="resolved")
    lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    windows = incident_selectors.incidents_for_entities(entity_ids=[service.pk])
    assert [w.incident_id for w in windows] == [open_one.pk, closed.pk]
    assert windows[0].ended_at is None
    assert windows[1].ended_at is not None and windows[1].ended_at >= windows[1].started_at
    assert windows[1].outcome == "resolved" and windows[1].entity_id == service.pk


def test_a_postmortem_links_to_its_incident_and_deployment(login, developer, runbook, space):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
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
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
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
    assert Page.objects.get(incident_id=incident.pk).deployment_ref == "deploy-7"


# --- postmortems link to incidents after they are written ------------------------------------


def _edit_form(page, **changes):
    data = {
        "title": page.title,
        "kind": page.kind,
        "body": page.body,
        "base_revision": page.current_revision_id,
        "incident": page.incident_id or "",
        "deployment_ref": page.deployment_ref,
    }
    data.update(changes)
    return data


def test_a_postmortem_is_linked_to_its_incident_in_the_editor_after_it_was_written(login, developer, runbook, space):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    pm = services.page_create(actor=developer, space=space, title="What broke", kind="postmortem")
    client = login(developer)
    assert 'name="incident"' in client.get(pm.url_for("page-edit")).content.decode()
    response = client.post(pm.url_for("page-edit"), _edit_form(pm, incident=incident.pk, deployment_ref="deploy-9"))
    assert response.status_code == 302
    pm.refresh_from_db()
    assert (pm.incident_id, pm.deployment_ref) == (incident.pk, "deploy-9")
    # ...and unlinked again.
    client.post(pm.url_for("page-edit"), _edit_form(pm, incident="", deployment_ref=""))
    pm.refresh_from_db()
    assert (pm.incident_id, pm.deployment_ref) == (None, "")


def test_an_unknown_incident_number_is_refused_in_the_editor(login, developer, space):
    pm = services.page_create(actor=developer, space=space, title="What broke", kind="postmortem")
    response = login(developer).post(pm.url_for("page-edit"), _edit_form(pm, incident=99999))
    assert response.status_code == 200 and "There is no incident with that number." in response.content.decode()
    pm.refresh_from_db()
    assert pm.incident_id is None


def test_only_postmortems_link_to_an_incident_or_a_deployment(login, developer, runbook, space, page):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    with pytest.raises(ServiceError, match="Only postmortems"):
        services.page_create(actor=developer, space=space, title="Note", kind="article", incident=incident)
    response = login(developer).post(page.url_for("page-edit"), _edit_form(page, deployment_ref="deploy-1"))
    assert "Only postmortems link to an incident or a deployment" in response.content.decode()
    page.refresh_from_db()
    assert page.deployment_ref == ""
    # A postmortem that becomes an article must drop its links first.
    pm = services.page_create(actor=developer, space=space, title="PM", kind="postmortem", incident=incident)
    response = login(developer).post(pm.url_for("page-edit"), _edit_form(pm, kind="article"))
    assert "Only postmortems" in response.content.decode()
    assert Page.objects.get(pk=pm.pk).kind == "postmortem"


def test_linking_a_deployment_later_makes_it_a_failed_change(
    developer, runbook, space, service, django_capture_on_commit_callbacks
):
    from pipelines.models import Incident as DoraIncident

    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
    pm = services.page_create(actor=developer, space=space, title="PM", kind="postmortem")
    _production_deployment(service, "deploy-77")
    with django_capture_on_commit_callbacks(execute=True):
        services.page_update(
            actor=developer, page=pm, title=pm.title, body=pm.body, base_revision_id=pm.current_revision_id,
            incident=incident, deployment_ref="deploy-77",
        )  # fmt: skip
    recorded = DoraIncident.objects.get(source="knowledge", external_id=str(incident.pk))
    assert recorded.deployment.provider_id == "deploy-77"


# --- DORA: false alarms do not count ------------------------------------------------------------


def _production_deployment(service, provider_id):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines.models import Deployment, DeploymentStatus, Repository

    repo, _ = Repository.objects.get_or_create(provider="github", slug="acme/checkout", defaults={"entity": service})
    finished = timezone.now() - timedelta(hours=2)
    return Deployment.objects.create(
        repository=repo, provider_id=provider_id, environment="production", is_production=True,
        status=DeploymentStatus.SUCCESS, status_rank=2, created_at=finished, finished_at=finished,
        commit_at=finished - timedelta(hours=1),
    )  # fmt: skip


@pytest.mark.parametrize(("outcome", "fail_rate", "recoveries"), [("resolved", 1.0, 1), ("false_alarm", 0.0, 0)])
def test_an_incident_closed_as_a_false_alarm_does_not_count_in_dora(
    developer, runbook, space, service, django_capture_on_commit_callbacks, outcome, fail_rate, recoveries
):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines.models import Repository
    from pipelines.selectors import dora_metrics

    _production_deployment(service, "deploy-5")
    with django_capture_on_commit_callbacks(execute=True):
        incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
        services.page_create(
            actor=developer, space=space, title="PM", kind="postmortem", incident=incident, deployment_ref="deploy-5"
        )
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.incident_close(actor=developer, incident=incident, outcome=outcome)
    metrics = {m.key: m for m in dora_metrics(Repository.objects.all(), now=timezone.now() + timedelta(minutes=1))}
    assert metrics["change_fail_rate"].value == fail_rate
    assert metrics["recovery_time"].count == recoveries


# --- incident history ----------------------------------------------------------------------


def test_the_incident_list_filters_by_runbook_and_the_runbook_links_all_its_incidents(login, developer, runbook, space):
    other = services.page_create(actor=developer, space=space, title="Disk full", kind="runbook", body="")
    mine = [lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3") for _ in range(23)]
    theirs = lifecycle.incident_start(actor=developer, runbook=other, entity=None, severity="sev3")
    client = login(developer)

    runbook_page = client.get(runbook.get_absolute_url()).content.decode()
    all_link = reverse("incidents:list") + f"?runbook={runbook.pk}"
    assert "All 23 incidents" in runbook_page and all_link in runbook_page

    listed = client.get(all_link)
    ids = [i.pk for i in listed.context["page"]]
    assert sorted(ids) == sorted(i.pk for i in mine) and theirs.pk not in ids
    assert "Incidents of “Checkout is down”" in listed.content.decode()

    Incident.objects.filter(runbook=runbook).update(started_at=theirs.started_at)
    for _ in range(30):
        lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev4")
    first = client.get(all_link)
    assert len(first.context["page"].object_list) == 50 and f"runbook={runbook.pk}&page=2" in first.content.decode()
    second = client.get(all_link + "&page=2")
    assert len(second.context["page"].object_list) == 3
    assert client.get(reverse("incidents:list") + "?runbook=424242").status_code == 404


def test_an_incident_lists_its_postmortems_and_writing_one_offers_the_existing_one(login, developer, runbook, space):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = login(developer)
    assert "No postmortem links to this incident yet." in client.get(incident.get_absolute_url()).content.decode()
    pm = services.page_create(actor=developer, space=space, title="Checkout PM", kind="postmortem", incident=incident)

    content = client.get(incident.get_absolute_url()).content.decode()
    assert "Checkout PM" in content and f'href="{pm.get_absolute_url()}">Open the postmortem' in content
    form = client.get(
        reverse("knowledge:page-create", args=[space.key]) + f"?kind=postmortem&incident={incident.pk}"
    ).content.decode()
    assert "This incident already has a postmortem" in form and pm.get_absolute_url() in form
    assert f'name="incident" value="{incident.pk}"' in form


# --- steps ---------------------------------------------------------------------------------


def test_editing_the_note_of_a_done_step_keeps_who_did_it_and_when(developer, teammate, runbook):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    lifecycle.incident_step_set(actor=developer, incident=incident, number=1, done=True)
    done_at = incident.steps.get(number=1).done_at
    lifecycle.incident_step_set(actor=teammate, incident=incident, number=1, done=True, note="dashboard is red")
    step = incident.steps.get(number=1)
    assert (step.done_by, step.done_at, step.note) == (developer, done_at, "dashboard is red")
    lifecycle.incident_step_set(actor=teammate, incident=incident, number=1, done=False)
    step.refresh_from_db()
    assert (step.done, step.done_by, step.done_at) == (False, None, None)


def test_a_strangers_htmx_tick_is_refused_with_a_message_and_no_form(login, developer, stranger, runbook):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = login(stranger)
    assert 'name="done"' not in client.get(incident.get_absolute_url()).content.decode()
    response = client.post(reverse("incidents:step", args=[incident.pk, 1]), {"done": "on"}, HTTP_HX_REQUEST="true")
    content = html.unescape(response.content.decode())
    assert response.status_code == 403
    assert "Only the incident's responder and the runbook's team can update its steps." in content
    assert 'id="knowledge-step-1"' in content and "<form" not in content
    assert not incident.steps.get(number=1).done
    plain = client.post(reverse("incidents:step", args=[incident.pk, 1]), {"done": "on"})
    assert plain.status_code == 403


def test_responders_see_steps_checked_off_by_the_others(login, developer, teammate, runbook):
    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    client = login(developer)
    content = client.get(incident.get_absolute_url()).content.decode()
    steps_url = reverse("incidents:steps", args=[incident.pk])
    assert f'hx-get="{steps_url}" hx-trigger="every 5s"' in content

    lifecycle.incident_step_set(actor=teammate, incident=incident, number=2, done=True)
    fragment = client.get(steps_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="knowledge-steps"' in fragment and "done by teammate" in fragment and "every 5s" in fragment

    lifecycle.incident_close(actor=developer, incident=incident, outcome="resolved")
    closed = client.get(steps_url, HTTP_HX_REQUEST="true").content.decode()
    assert "every 5s" not in closed and "done by teammate" in closed
    assert "every 5s" not in client.get(incident.get_absolute_url()).content.decode()


def test_a_responder_outside_the_team_is_not_offered_a_postmortem_they_cannot_write(login, approver, runbook):
    incident = lifecycle.incident_start(actor=approver, runbook=runbook, entity=None, severity="sev2")
    page = login(approver).get(incident.get_absolute_url()).content.decode()
    assert "kind=postmortem" not in page
    assert "The postmortem is written by the team of the “Payments” space." in page


def test_a_step_note_with_a_nul_character_is_refused_and_nothing_changes(login, developer, runbook):
    from urllib.parse import urlencode

    incident = lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev2")
    url = reverse("incidents:step", args=[incident.pk, 1])
    client = login(developer)
    # As htmx sends it (url-encoded), and as a multipart form.
    as_htmx = client.post(
        url,
        urlencode({"done": "on", "note": "a\x00b"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_HX_REQUEST="true",
    )
    assert as_htmx.status_code == 400 and "NUL character" in as_htmx.content.decode()
    as_form = client.post(url, {"done": "on", "note": "a\x00b"}, HTTP_HX_REQUEST="true")
    assert as_form.status_code == 200 and "a note cannot hold; nothing was saved" in as_form.content.decode()
    step = incident.steps.get(number=1)
    assert not step.done and step.note == ""


# --- no cross-team blame -------------------------------------------------------------------------


def _other_team_incident_and_deployment(platform_admin):
    from catalog import services as catalog
    from catalog.models import Entity
    from tests.knowledge.conftest import make_team

    group = make_team("team-search")
    catalog.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: search-api}\n"
        "spec: {type: service, lifecycle: production, owner: team-search}\n",
        name="search-api",
    )
    search = Entity.objects.get(ref_key="component:default/search-api")
    space = services.space_create(actor=platform_admin, key="search", name="Search", owner=group)
    runbook = services.page_create(
        actor=platform_admin, space=space, title="Search is slow", kind="runbook", body="- [ ] Look",
        entity_ids=[search.pk],
    )  # fmt: skip
    incident = lifecycle.incident_start(actor=platform_admin, runbook=runbook, entity=search, severity="sev2")
    return search, incident


def test_a_postmortem_cannot_link_another_teams_incident_to_its_deployment(
    developer, space, platform_admin, django_capture_on_commit_callbacks
):
    """The review's hole: a developer's postmortem in his own space counted another team's
    deployment as a failed change."""
    from pipelines.models import Incident as DoraIncident

    search, incident = _other_team_incident_and_deployment(platform_admin)
    _production_deployment(search, "search-deploy-1")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied, match="team-search"):
        services.page_create(
            actor=developer, space=space, title="Their fault", kind="postmortem", incident=incident,
            deployment_ref="search-deploy-1",
        )  # fmt: skip
    assert not Page.objects.filter(title="Their fault").exists()
    assert not DoraIncident.objects.filter(deployment__isnull=False).exists()


def test_a_postmortem_links_only_deployments_of_the_incidents_own_service(
    developer, runbook, space, service, platform_admin, django_capture_on_commit_callbacks
):
    from pipelines.models import Deployment, Repository
    from pipelines.models import Incident as DoraIncident

    search, _ = _other_team_incident_and_deployment(platform_admin)
    theirs = Repository.objects.create(provider="github", slug="acme/search", entity=search)
    deployment = _production_deployment(service, "ours-1")
    Deployment.objects.filter(pk=deployment.pk).update(repository=theirs)  # "ours-1" is search-api's
    own = lifecycle.incident_start(actor=developer, runbook=runbook, entity=service, severity="sev2")
    with pytest.raises(PermissionDenied, match="not a deployment of the incident's service"):
        services.page_create(
            actor=developer, space=space, title="PM", kind="postmortem", incident=own, deployment_ref="ours-1"
        )
    # Whatever reaches pipelines by another way, only the incident's service's deployment is linked.
    from pipelines.services import incident_from_event

    with django_capture_on_commit_callbacks(execute=True):
        recorded = incident_from_event(
            source="knowledge", external_id=str(own.pk), title="x", entity_id=service.pk,
            started_at=own.started_at, resolved_at=None, deployment_ref="ours-1", url="/",
        )  # fmt: skip
    assert recorded.deployment is None
    assert DoraIncident.objects.get(pk=recorded.pk).deployment is None
