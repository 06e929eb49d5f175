import csv
import io

import pytest
from django.urls import reverse

from portal import services
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_platform_admins_read_and_filter_the_audit_log(login, platform_admin, developer):
    services.token_create(user=developer, name="ci")
    services.audit_record(actor=platform_admin, action="catalog.import", changes={"created": 3})
    client = login(platform_admin)
    body = client.get(reverse("audit-log"), {"action": "token."}).content.decode()
    assert "token.create" in body
    assert "catalog.import" not in body


def test_the_audit_log_exports_the_filtered_events_as_csv(login, platform_admin, developer):
    services.token_create(user=developer, name="ci")
    services.audit_record(actor=platform_admin, action="catalog.import", changes={"created": 3})
    response = login(platform_admin).get(
        reverse("audit-log"), {"actor": "padmin", "action": "catalog.", "format": "csv"}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["created_at", "actor_name", "action"]
    assert [row[2] for row in rows[1:]] == ["catalog.import"]
    assert rows[1][6] == '{"created": 3}'


def test_the_audit_log_is_closed_to_everyone_else(login, developer, approver, client):
    for user in (developer, approver):
        assert login(user).get(reverse("audit-log")).status_code == 403
        assert client.get("/api/audit/").status_code == 403


def test_the_audit_api_is_read_only(client, platform_admin):
    event = services.audit_record(actor=platform_admin, action="x.y")
    client.force_login(platform_admin)
    assert client.get("/api/audit/").json()["count"] >= 1
    assert client.get(f"/api/audit/{event.pk}/").json()["action"] == "x.y"
    assert client.delete(f"/api/audit/{event.pk}/").status_code == 405
    assert client.patch(f"/api/audit/{event.pk}/", {"action": "z"}, content_type="application/json").status_code == 405
    assert AuditEvent.objects.filter(pk=event.pk, action="x.y").exists()


def test_the_audit_log_cannot_be_edited_in_the_admin(login, platform_admin):
    event = services.audit_record(actor=platform_admin, action="x.y")
    client = login(platform_admin)
    assert client.get(f"/admin/portal/auditevent/{event.pk}/delete/").status_code == 403
    client.post(f"/admin/portal/auditevent/{event.pk}/change/", {"action": "forged"})
    event.refresh_from_db()
    assert event.action == "x.y"


def test_a_bad_filter_value_shows_an_error_not_a_500(login, platform_admin):
    response = login(platform_admin).get(reverse("audit-log"), {"since": "yesterday-ish"})
    assert response.status_code == 200
    assert "Enter a valid date/time" in response.content.decode()


@pytest.mark.parametrize(
    "value", ["0792-01-08T23:42:51+16:22", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
)
def test_date_filters_at_the_edges_of_what_databases_store_still_answer(client, platform_admin, value):
    client.force_login(platform_admin)
    response = client.get("/api/audit/", {"since": value})
    assert response.status_code == 200
    assert client.get("/api/audit/", {"until": value}).status_code == 200


def test_a_date_filter_that_is_not_a_date_is_a_clear_400(client, platform_admin):
    client.force_login(platform_admin)
    response = client.get("/api/audit/", {"since": "last tuesday"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["since"] == ["Enter a valid date/time."]


def test_a_date_filter_with_an_offset_is_compared_in_utc(client, platform_admin):
    services.audit_record(actor=platform_admin, action="x.y")
    client.force_login(platform_admin)
    assert client.get("/api/audit/", {"action": "x.", "since": "2000-01-01T00:00:00+14:00"}).json()["count"] == 1
    assert client.get("/api/audit/", {"action": "x.", "until": "2000-01-01T00:00:00-14:00"}).json()["count"] == 0
