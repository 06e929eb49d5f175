import pytest
from django.core.management import call_command

from incidents.models import Incident
from knowledge.models import Page, Space

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_a_space_per_team_with_an_article_a_runbook_and_a_postmortem():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    space = Space.objects.get(key="payments")
    assert space.owner.name == "team-payments"
    kinds = sorted(Page.objects.filter(space=space).values_list("kind", flat=True))
    assert kinds == ["article", "postmortem", "runbook"]
    runbook = Page.objects.get(space=space, kind="runbook")
    assert runbook.entities.filter(name="checkout-api").exists()
    incident = Incident.objects.get(runbook=runbook)
    assert incident.steps.count() == 5 and incident.closed_at is not None
    assert Page.objects.get(space=space, kind="postmortem").incident_id == incident.pk
    # Running it again changes nothing.
    pages, incidents = Page.objects.count(), Incident.objects.count()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Page.objects.filter(space=space).count() == 3
    assert Incident.objects.filter(runbook__space=space).count() == 1
    assert (Page.objects.count(), Incident.objects.count()) == (pages, incidents)
