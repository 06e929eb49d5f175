"""Alertmanager notifications become incidents: recorded payloads, through HTTP."""

import base64
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from incidents.models import Alert, AlertNotification, AlertReceiver, Incident, Response, TimelineEntry
from portal.models import Notification
from tests.incidents.conftest import add_service, payload

pytestmark = pytest.mark.django_db

STARTS = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
ENDS = datetime(2026, 12, 5, 1, 10, tzinfo=UTC)


def test_the_command_prints_the_token_once_and_stores_it_encrypted():
    out = io.StringIO()
    call_command("alert_receiver", "add", "prod-alertmanager", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert token.startswith("bam_") and len(token) > 40
    receiver = AlertReceiver.objects.get(name="prod-alertmanager")
    assert token not in receiver.token_encrypted and receiver.token_prefix == token[:12]
    listing = io.StringIO()
    call_command("alert_receiver", "list", stdout=listing)
    assert "prod-alertmanager" in listing.getvalue() and token not in listing.getvalue()


def test_a_firing_alert_opens_an_incident_with_service_runbook_severity_and_team(
    post_alerts, runbook, service, developer, teammate, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_alerts(payload("firing"))
    assert response.status_code == 202, response.content
    assert response.applied.changed == 1 and response.applied.status == "applied"
    incident = Incident.objects.get()
    assert response.applied.incidents == [incident.pk]
    assert (incident.entity, incident.runbook, incident.severity) == (service, runbook, "sev1")
    assert incident.started_at == STARTS and incident.started_by is None and incident.is_open
    assert [s.text for s in incident.steps.all()] == ["Check the dashboard", "Roll back"]
    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.status, alert.incident) == ("90ed13d614590be3", "firing", incident)
    assert alert.ends_at is None  # Alertmanager's 0001-01-01 means "no end"
    # The owning team hears of it once, with the alert and runbook named.
    notes = Notification.objects.filter(event="incident_started")
    assert {n.user for n in notes} == {developer, teammate}
    assert "CheckoutDown" in notes[0].body and "Checkout is down" in notes[0].body
    # DORA (pipelines) learns of it through the portal's event, starting at the alert's startsAt.
    from pipelines.models import Incident as DoraIncident

    assert DoraIncident.objects.get(source="knowledge", external_id=str(incident.pk)).started_at == STARTS


def test_a_resent_notification_changes_nothing(post_alerts, runbook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("firing"))
    before = (Alert.objects.count(), TimelineEntry.objects.count(), Notification.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        again = post_alerts(payload("firing"))  # repeat_interval, or a retry after a failed send
    assert again.status_code == 200 and again.json()["unchanged"] is True and again.applied is None
    assert (Alert.objects.count(), TimelineEntry.objects.count(), Notification.objects.count()) == before
    assert Incident.objects.count() == 1


def test_a_resolved_alert_resolves_the_incident_at_its_end(post_alerts, runbook, django_capture_on_commit_callbacks):
    from pipelines.models import Incident as DoraIncident

    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("firing"))
        response = post_alerts(payload("resolved"))
    assert response.applied.changed == 1
    incident = Incident.objects.get()
    assert not incident.is_open and incident.closed_at == ENDS and incident.outcome == "resolved"
    assert Alert.objects.get().status == "resolved"
    recorded = DoraIncident.objects.get(external_id=str(incident.pk))
    assert (recorded.started_at, recorded.resolved_at) == (STARTS, ENDS)  # recovery time: the real 10 minutes
    kinds = list(TimelineEntry.objects.values_list("kind", flat=True))
    assert [k for k in kinds if k != "notified"] == ["opened", "alert_fired", "alert_resolved", "resolved"]
    with django_capture_on_commit_callbacks(execute=True):
        assert post_alerts(payload("resolved")).json()["unchanged"] is True


def test_resolved_before_firing_is_never_reopened(post_alerts, runbook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("resolved"))
        late = post_alerts(payload("firing"))  # the older notification, delivered late
    assert late.applied.changed == 0
    assert Alert.objects.get().status == "resolved"
    assert not Incident.objects.filter(closed_at__isnull=True).exists()


def test_a_service_that_wants_confirmation_waits_for_its_team(post_alerts, team, django_capture_on_commit_callbacks):
    add_service("checkout-api", team.name, annotations='"bridge.io/auto-resolve": "false"')
    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("firing"))
        post_alerts(payload("resolved"))
    incident = Incident.objects.get()
    assert incident.is_open and incident.runbook is None  # no runbook matched: the page says so
    assert Response.objects.get(incident=incident).awaiting_confirmation


def test_alerts_of_one_service_in_one_group_make_one_incident_and_one_notification(
    post_alerts, service, django_capture_on_commit_callbacks
):
    body = payload("firing")
    second = dict(body["alerts"][0], fingerprint="0000000000000002", labels={**body["alerts"][0]["labels"], "pod": "b"})
    body["alerts"].append(second)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_alerts(body).applied.changed == 2
    assert Incident.objects.count() == 1 and Alert.objects.filter(incident__isnull=False).count() == 2
    assert Notification.objects.filter(event="incident_started").count() == 2  # developer and teammate, once each


def test_a_flapping_service_notifies_its_team_at_most_once_per_interval(
    post_alerts, service, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("firing"))
        post_alerts(payload("resolved"))
        again = payload("firing")
        again["alerts"][0]["startsAt"] = "2026-12-05T01:20:00Z"  # fires again: a new episode
        post_alerts(again)
    assert Incident.objects.count() == 2
    assert Notification.objects.filter(event="incident_started").count() == 2  # the first incident's only
    assert TimelineEntry.objects.filter(text__startswith="Team not notified again").count() == 1


def test_an_alert_naming_no_service_is_kept_as_unrouted_for_platform_admins(
    post_alerts, login, platform_admin, developer, django_capture_on_commit_callbacks
):
    body = payload("firing")
    body["alerts"][0]["labels"]["service"] = "nobody-knows-me"
    with django_capture_on_commit_callbacks(execute=True):
        assert post_alerts(body).applied.unrouted == 1
    assert not Incident.objects.exists()
    assert Alert.objects.get().entity is None
    page = login(platform_admin).get("/incidents/alerts/unrouted/")
    assert page.status_code == 200 and "service=nobody-knows-me" in page.content.decode()
    assert login(developer).get("/incidents/alerts/unrouted/").status_code == 403


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer ", "Bearer bam_wrong-token-wrong-token-wrong-token-00", "Token x", "Basic !!!"],
)
def test_notifications_without_the_receivers_token_are_refused_and_nothing_is_stored(
    client, receiver, service, authorization
):
    response = client.post(
        "/api/incidents/alertmanager/",
        data=payload("firing"),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
    )
    assert response.status_code == 401
    assert not Alert.objects.exists() and not Incident.objects.exists()


def test_basic_auth_receivers_take_their_name_and_token(client, service):
    from incidents import services

    receiver, token = services.receiver_create(name="staging-am", auth="basic")
    good = base64.b64encode(f"staging-am:{token}".encode()).decode()
    response = client.post(
        "/api/incidents/alertmanager/", data=payload("firing"), content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {good}",
    )  # fmt: skip
    assert response.status_code == 202
    services.notification_apply(notification_pk=response.json()["notification"])
    assert Incident.objects.count() == 1
    # Its token as a bearer token is refused: the receiver was made for basic auth.
    bearer = client.post(
        "/api/incidents/alertmanager/", data=payload("resolved"), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip
    assert bearer.status_code == 401


@pytest.mark.parametrize(
    "body, message",
    [
        ({**payload("firing"), "version": "3"}, "version 4"),
        ({**payload("firing"), "alerts": {"a": 1}}, "alerts must be a list"),
        ({**payload("firing"), "alerts": [{"status": "burning", "fingerprint": "x"}]}, "firing or resolved"),
        ({**payload("firing"), "alerts": [{**payload("firing")["alerts"][0], "startsAt": "yesterday"}]}, "RFC 3339"),
        (
            {**payload("firing"), "alerts": [{**payload("firing")["alerts"][0], "labels": {"a": 1}}]},
            "object of strings",
        ),
        ([1, 2], "JSON object"),
    ],
)
def test_malformed_notifications_are_a_clear_400(post_alerts, service, body, message):
    response = post_alerts(body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert not Alert.objects.exists()


def test_not_json_is_a_400_and_not_a_500(client, receiver):
    response = client.post(
        "/api/incidents/alertmanager/", data=b"{nope", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {receiver.token}",
    )  # fmt: skip
    assert response.status_code == 400


def test_an_alert_firing_after_the_incident_resolved_in_the_same_notification_opens_a_new_one(
    post_alerts, service, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_alerts(payload("firing"))
        body = payload("resolved")
        body["alerts"].append(
            dict(payload("firing")["alerts"][0], fingerprint="00000000000000bb", startsAt="2026-12-05T01:11:00Z")
        )
        post_alerts(body)
    first, second = Incident.objects.order_by("pk")
    assert not first.is_open and first.closed_at == ENDS
    assert second.is_open and second.started_at == datetime(2026, 12, 5, 1, 11, tzinfo=UTC)
    assert Alert.objects.get(fingerprint="00000000000000bb").incident == second


def test_a_rotated_or_disabled_receivers_old_token_is_refused_at_once(post_alerts, receiver, service):
    # The receiver's token is decrypted once per process; that must not outlive a rotation or a disabling.
    from incidents import services

    assert post_alerts(payload("firing")).status_code == 202
    new_token = services.receiver_rotate(receiver=receiver)
    assert post_alerts(payload("resolved")).status_code == 401
    assert post_alerts(payload("resolved"), token=new_token).status_code == 202
    AlertReceiver.objects.filter(pk=receiver.pk).update(enabled=False)
    assert post_alerts(payload("firing"), token=new_token).status_code == 401


def test_the_answer_comes_once_the_notification_is_stored_and_a_worker_applies_it(
    client, receiver, runbook, service, queued_applies, django_capture_on_commit_callbacks
):
    from incidents import services

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/incidents/alertmanager/", data=payload("firing"), content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {receiver.token}",
        )  # fmt: skip
    assert response.status_code == 202, response.content
    stored = AlertNotification.objects.get()
    assert response.json() == {"alerts": 1, "unchanged": False, "notification": stored.pk}
    # Nothing is applied before a worker takes it; the worker was sent its id after commit.
    assert stored.status == "pending" and not Incident.objects.exists() and queued_applies == [stored.pk]
    assert services.notification_apply(notification_pk=stored.pk) == "applied"
    stored.refresh_from_db()
    incident = Incident.objects.get()
    assert (stored.status, stored.changed, stored.incidents) == ("applied", 1, [incident.pk])
    # A second worker given the same id (a redelivered task) changes nothing.
    assert services.notification_apply(notification_pk=stored.pk) == "applied"
    assert Alert.objects.count() == 1 and TimelineEntry.objects.filter(kind="alert_fired").count() == 1


def test_a_notification_that_fails_to_apply_is_kept_retried_and_then_let_through_on_its_re_send(
    post_alerts, receiver, service, monkeypatch
):
    from incidents import mapping, services

    real = mapping.entity_for
    monkeypatch.setattr(mapping, "entity_for", lambda labels: 1 / 0)
    first = post_alerts(payload("firing"))
    stored = first.applied
    assert first.status_code == 202 and (stored.status, stored.attempts) == ("pending", 1)
    assert "ZeroDivisionError" in stored.error and not Alert.objects.exists()
    # The sweeper queues it again once it has waited; two more failures and it is marked failed.
    AlertNotification.objects.filter(pk=stored.pk).update(received_at=stored.received_at - timedelta(minutes=5))
    assert services.notifications_requeue_pending() == 1
    services.notification_apply(notification_pk=stored.pk)
    services.notification_apply(notification_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == ("failed", 3)
    assert services.notifications_requeue_pending() == 0
    # Alertmanager's re-send of the same alerts is not answered "unchanged": it is stored and applied.
    monkeypatch.setattr(mapping, "entity_for", real)
    again = post_alerts(payload("firing"))
    assert again.json()["unchanged"] is False and again.applied.status == "applied"
    assert Incident.objects.get().entity == service


def test_a_nul_character_in_a_label_is_a_400_at_the_door(post_alerts, service):
    body = payload("firing")
    body["alerts"][0]["labels"]["pod"] = "a\x00b"
    response = post_alerts(body)
    assert response.status_code == 400 and "NUL" in response.json()["error"]["message"]
    assert not AlertNotification.objects.exists()
