"""Incidents moved from the knowledge app to their own (knowledge 0008/0009, incidents 0002/0003):
an incident made before the move, with its steps, timeline, response and postmortem, is all there after."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("knowledge", "0007_incident_without_runbook"), ("incidents", "0001_alerts_receivers_and_response")]


def _leaves(executor):
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] in ("knowledge", "incidents")]


@pytest.mark.django_db(transaction=True)
def test_an_incident_from_before_the_move_keeps_its_steps_timeline_response_and_postmortem():
    executor = MigrationExecutor(connection)
    latest = _leaves(executor)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Space, Page = old.get_model("knowledge", "Space"), old.get_model("knowledge", "Page")
    Incident, Step = old.get_model("knowledge", "Incident"), old.get_model("knowledge", "IncidentStep")
    space = Space.objects.create(key="ops", name="Ops")
    runbook = Page.objects.create(space=space, title="Disk full", slug="disk-full", kind="runbook")
    incident = Incident.objects.create(runbook=runbook, severity="sev2", summary="Disk full", started_at=timezone.now())
    Step.objects.create(incident=incident, number=1, text="Free some space", done=True)
    Page.objects.create(
        space=space, title="Postmortem", slug="pm", kind="postmortem", incident=incident, deployment_ref="d-7"
    )
    old.get_model("incidents", "Response").objects.create(incident=incident, from_alert=True)
    old.get_model("incidents", "TimelineEntry").objects.create(
        incident=incident, at=timezone.now(), kind="note", text="looking"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(latest)

    from incidents.models import Incident as MovedIncident
    from incidents.models import IncidentStep
    from knowledge.models import Page as NowPage

    moved = MovedIncident.objects.get(pk=incident.pk)
    assert moved._meta.db_table == "incidents_incident"
    assert (moved.summary, moved.severity, moved.runbook_id) == ("Disk full", "sev2", runbook.pk)
    assert [(s.number, s.text, s.done) for s in moved.steps.all()] == [(1, "Free some space", True)]
    assert moved.response.from_alert and [t.text for t in moved.timeline.all()] == ["looking"]
    assert NowPage.objects.get(slug="pm").incident_id == incident.pk
    # New rows get new ids after the rename (the id sequence came along with the table).
    later = MovedIncident.objects.create(severity="sev3", started_at=timezone.now())
    assert later.pk > moved.pk
    IncidentStep.objects.create(incident=later, number=1, text="x")
