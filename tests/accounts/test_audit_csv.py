"""The audit CSV opens safely in a spreadsheet: no cell is read as a formula (OWASP's CSV injection rule)."""

import csv
import io

import pytest
from django.urls import reverse

from portal.services import audit_record

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.example/","click")', "+1+2", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def test_cells_that_a_spreadsheet_would_run_are_neutralised(login, platform_admin):
    for n in range(len(HOSTILE)):
        audit_record(actor=None, action="test.csv", changes={"n": n}, obj=None)
    from portal.models import AuditEvent

    for event, text in zip(AuditEvent.objects.filter(action="test.csv").order_by("changes__n"), HOSTILE, strict=True):
        AuditEvent.objects.filter(pk=event.pk).update(object_repr=text, actor_name=text)
    response = login(platform_admin).get(reverse("audit-log"), {"action": "test.csv", "format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    reprs = sorted(row[header.index("object_repr")] for row in body)
    assert reprs == sorted("'" + text for text in HOSTILE)
    assert all(row[header.index("actor_name")][0] not in "=+-@\t\r" for row in body)


def test_ordinary_text_and_non_ascii_names_come_through_unchanged(login, platform_admin):
    audit_record(actor=None, action="test.csv", changes={})
    from portal.models import AuditEvent

    AuditEvent.objects.filter(action="test.csv").update(object_repr="Zoë’s service — ok", actor_name="zoë")
    response = login(platform_admin).get(reverse("audit-log"), {"action": "test.csv", "format": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8")
    assert "Zoë’s service — ok" in text and "zoë" in text
