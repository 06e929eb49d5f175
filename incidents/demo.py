"""Demo incidents for ``seed_demo``: in each demo space of the knowledge base, one incident worked
through its runbook and closed, with the space's postmortem linked to it. Runs after the knowledge
seeder; a runbook that already has an incident is left alone, so running it again changes nothing."""

from django.contrib.auth import get_user_model
from django.db import transaction

from incidents import lifecycle
from incidents.models import Incident
from knowledge.models import Page, PageKind


def seed(log) -> None:
    users = get_user_model().objects.order_by("pk")
    admin = users.filter(username="admin").first() or users.filter(is_superuser=True).first() or users.first()
    if admin is None:
        log("incidents: no user to start the demo incidents as; run the portal seeder first")
        return
    created = 0
    runbooks = Page.objects.filter(kind=PageKind.RUNBOOK, space__description="Demo space.").select_related("space")
    for runbook in runbooks.order_by("pk"):
        if Incident.objects.filter(runbook=runbook).exists():
            continue
        entity = runbook.entities.order_by("name").first()
        with transaction.atomic():
            incident = lifecycle.incident_start(
                actor=admin, runbook=runbook, entity=entity, severity="sev2", summary="Demo incident"
            )
            lifecycle.incident_close(actor=admin, incident=incident, outcome="resolved", notes="Rolled back.")
            postmortems = Page.objects.filter(space=runbook.space, kind=PageKind.POSTMORTEM, incident_id=None)
            first = postmortems.order_by("pk").first()
            if first is not None:
                Page.objects.filter(pk=first.pk).update(incident_id=incident.pk)
                lifecycle.postmortems_changed(incident_ids=[incident.pk])
        created += 1
    log(f"incidents: {created} demo incidents created" if created else "incidents: demo incidents already present")
