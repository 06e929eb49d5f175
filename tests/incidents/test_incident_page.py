"""The incident page: alerts with their links, suspect deployments, timeline, acknowledge and assign."""

import html as html_module
from datetime import UTC, datetime, timedelta

import pytest

from incidents import services
from incidents.models import Incident, Response
from portal.services import PermissionDenied
from tests.incidents.conftest import add_service, payload

pytestmark = pytest.mark.django_db

STARTS = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def _deployment(entity, provider_id, finished):
    from pipelines.models import Deployment, DeploymentStatus, Repository

    repo, _ = Repository.objects.get_or_create(provider="github", slug="acme/checkout", defaults={"entity": entity})
    return Deployment.objects.create(
        repository=repo, provider_id=provider_id, environment="production", is_production=True,
        status=DeploymentStatus.SUCCESS, status_rank=2, created_at=finished, finished_at=finished,
        commit_sha="abcdef1234567890",
    )  # fmt: skip


@pytest.fixture
def incident(post_alerts, team, runbook, django_capture_on_commit_callbacks):
    add_service(
        "checkout-api", team.name, annotations='"bridge.io/dashboard-url": "https://grafana.example.com/d/checkout"'
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_alerts(payload("firing")).status_code == 202
    return Incident.objects.get()


def test_the_page_shows_the_alert_its_links_and_the_suspect_deployment(login, developer, incident):
    service = incident.entity
    _deployment(service, "deploy-old", STARTS - timedelta(hours=3))  # outside the two hours
    _deployment(service, "deploy-earlier", STARTS - timedelta(minutes=90))
    _deployment(service, "deploy-latest", STARTS - timedelta(minutes=12))
    _deployment(service, "deploy-after", STARTS + timedelta(minutes=5))  # after the alert: no suspect
    html = login(developer).get(incident.get_absolute_url()).content.decode()
    assert "CheckoutDown" in html and "checkout-api is down" in html
    assert (
        'href="http://prometheus.example:9090/graph?g0.expr=up%7Bjob%3D%22checkout%22%7D+%3D%3D+0&amp;g0.tab=1"' in html
    )
    assert 'href="https://grafana.example.com/d/checkout"' in html
    assert "<code>severity=critical</code>" in html
    deployments = html[html.index('id="incident-deployments"') : html.index('id="incident-timeline"')]
    assert "deploy-old" not in deployments and "deploy-after" not in deployments
    assert deployments.index("deploy-latest") < deployments.index("deploy-earlier")
    assert deployments.index("suspect") < deployments.index("deploy-latest") < deployments.index("deploy-earlier")
    assert deployments.count("suspect") == 1
    timeline = html[html.index('id="incident-timeline"') :]
    assert "Opened by alert CheckoutDown" in timeline and "CheckoutDown fired" in timeline
    assert "Acknowledge</button>" in html and "Check the dashboard" in html  # the runbook's steps


def test_the_team_acknowledges_and_assigns_and_the_timeline_shows_it(login, developer, teammate, incident):
    client = login(developer)
    response = client.post(f"/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 302
    client.post(f"/incidents/{incident.pk}/assign/", {"assignee": teammate.pk})
    state = Response.objects.get(incident=incident)
    assert (state.acknowledged_by, state.assignee) == (developer, teammate)
    client.post(f"/incidents/{incident.pk}/notes/", {"text": "Rolled back deploy-latest"})
    html = client.get(incident.get_absolute_url()).content.decode()
    timeline = html[html.index('id="incident-timeline"') :]
    assert "Acknowledged by dev" in timeline and "Assigned to teammate by dev" in timeline
    assert "Rolled back deploy-latest" in timeline
    assert "Acknowledge</button>" not in html


def test_someone_outside_the_team_can_neither_acknowledge_nor_assign(login, stranger, approver, developer, incident):
    html = login(stranger).get(incident.get_absolute_url()).content.decode()
    assert "Acknowledge</button>" not in html
    response = login(stranger).post(f"/incidents/{incident.pk}/acknowledge/", follow=True)
    assert "Only the service's team and Platform Admins can acknowledge" in html_module.unescape(
        response.content.decode()
    )
    assert not Response.objects.get(incident=incident).acknowledged_at
    with pytest.raises(PermissionDenied):
        services.incident_assign(actor=approver, incident=incident, assignee=developer)
    # ...nor hand the incident to someone outside the team.
    from portal.services import ServiceError

    with pytest.raises(ServiceError, match="member of the service's team"):
        services.incident_assign(actor=developer, incident=incident, assignee=stranger)


def test_acknowledge_and_assign_through_the_api(client, developer, teammate, incident):
    client.force_login(developer)
    assert client.post(f"/api/incidents/{incident.pk}/acknowledge/").json()["acknowledged_by"] == "dev"
    again = client.post(f"/api/incidents/{incident.pk}/acknowledge/")
    assert again.status_code == 400 and "Already acknowledged by dev" in again.json()["error"]["message"]
    assigned = client.post(
        f"/api/incidents/{incident.pk}/assign/", {"assignee": "teammate"}, content_type="application/json"
    )
    assert assigned.json()["assignee"] == "teammate"


def test_an_incident_without_a_runbook_says_how_to_get_one(login, developer, post_alerts, service):
    body = payload("firing")
    del body["alerts"][0]["annotations"]["runbook_url"]
    post_alerts(body)
    html = login(developer).get(Incident.objects.get().get_absolute_url()).content.decode()
    assert "No runbook matched this alert" in html and "an alert" in html


def test_the_entity_page_has_an_alerts_tab_and_my_services_marks_the_firing_service(login, developer, incident):
    client = login(developer)
    service = incident.entity
    page = client.get(f"{service.get_absolute_url()}?tab=alerts").content.decode()
    tab = page[page.index('id="alerts"') :]
    assert "CheckoutDown" in tab and "checkout-api is down" in tab and f"incident #{incident.pk}" in tab
    assert "Incidents of the last 90 days" in tab and incident.get_absolute_url() in tab
    home = client.get("/").content.decode()
    assert "1 alert firing" in home


def test_platform_admins_find_unrouted_alerts_on_their_home_page(login, platform_admin, developer, post_alerts):
    body = payload("firing")
    body["alerts"][0]["labels"]["service"] = "nobody-knows-me"
    post_alerts(body)
    home = login(platform_admin).get("/").content.decode()
    assert "Unrouted alerts" in home and "/incidents/alerts/unrouted/" in home and "CheckoutDown" in home
    assert "Unrouted alerts" not in login(developer).get("/").content.decode()


def test_the_incident_page_makes_as_many_queries_for_twenty_alerts_as_for_one(
    login, developer, post_alerts, service, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post_alerts(payload("firing"))
    incident = Incident.objects.get()
    client = login(developer)
    with CaptureQueriesContext(connection) as one:
        assert client.get(incident.get_absolute_url()).status_code == 200
    baseline = len(one.captured_queries)  # read now: the next request resets Django's query log
    assert baseline > 5
    body = payload("firing")
    base = body["alerts"][0]
    body["alerts"] = [
        dict(base, fingerprint=f"{i:016x}", labels={**base["labels"], "pod": str(i)}) for i in range(1, 20)
    ]
    post_alerts(body)
    with django_assert_max_num_queries(baseline):
        client.get(incident.get_absolute_url())
