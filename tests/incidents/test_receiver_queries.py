"""Neither the receiver's work nor the worker's grows with the alerts of a notification: Alertmanager
groups many alerts into one notification, and a burst of them must each be answered in ≤ 50 ms
(issue 22). The receiver only stores the notification; a worker applies it."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import services
from incidents.models import Alert, AlertNotification, AlertReceiver, Incident, TimelineEntry
from tests.incidents.conftest import add_service

pytestmark = pytest.mark.django_db

# Upper bounds per notification applied by the worker (test transaction's savepoints and the DORA
# record after commit included), whatever its number of alerts. Opening notifies the team's two
# members; resolving closes the incident.
MAX_QUERIES = {"opens an incident": 37, "joins the open incident": 13, "resolves the incident": 23}
# The receiver's answer: the receiver (and its last use, once a minute), the group, the notification
# and the group's digest, in a transaction (a savepoint and its release in a test).
MAX_RECEIVE_QUERIES = 6


def notification(service: str, size: int, *, group: str, status: str = "firing", minute: int = 0) -> dict:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": "Down", "service": service, "severity": "critical", "pod": f"p{minute}-{k}"},
            "annotations": {"summary": f"{service} is down"},
            "startsAt": f"2026-12-05T01:{minute:02d}:{k:02d}Z",
            "endsAt": "2026-12-05T02:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": f"{service}-{minute}-{k}",
        }
        for k in range(size)
    ]
    return {"version": "4", "status": status, "receiver": "bridge", "groupKey": group, "alerts": alerts}


def test_ten_alerts_in_a_notification_take_as_many_queries_as_one(
    client, receiver, team, django_capture_on_commit_callbacks
):
    receive_counts: list[int] = []
    AlertReceiver.objects.filter(pk=receiver.pk).update(last_used_at=timezone.now())  # recorded once a minute
    counts: dict[str, dict[int, int]] = {phase: {} for phase in MAX_QUERIES}
    for size in (1, 10):
        service = add_service(f"api-{size}", team.name)

        def send(phase, body, changed, size=size):
            with CaptureQueriesContext(connection) as received:
                response = client.post(
                    "/api/incidents/alertmanager/", data=json.dumps(body), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {receiver.token}",
                )  # fmt: skip
            assert response.status_code == 202, response.content
            receive_counts.append(len(received))
            with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
                services.notification_apply(notification_pk=response.json()["notification"])
            assert AlertNotification.objects.get(pk=response.json()["notification"]).changed == changed
            counts[phase][size] = len(queries)

        send("opens an incident", notification(service.name, size, group=f"g-{size}"), size)
        send("joins the open incident", notification(service.name, size, group=f"g-{size}", minute=5), size)
        resolved = notification(service.name, size, group=f"g-{size}", status="resolved")
        resolved["alerts"] += notification(service.name, size, group="", status="resolved", minute=5)["alerts"]
        send("resolves the incident", resolved, 2 * size)
        incident = Incident.objects.get(entity=service)
        assert not incident.is_open and Alert.objects.filter(incident=incident, status="resolved").count() == 2 * size
        assert TimelineEntry.objects.filter(incident=incident, kind="alert_fired").count() == 2 * size
    for phase, by_size in counts.items():
        assert by_size[10] == by_size[1], f"a notification that {phase}: {by_size} queries by its number of alerts"
        assert by_size[10] <= MAX_QUERIES[phase], f"a notification that {phase}: {by_size[10]} queries"
    assert max(receive_counts) <= MAX_RECEIVE_QUERIES, f"the receiver's answer took {receive_counts} queries"
