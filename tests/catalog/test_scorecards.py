"""Scorecards: rules at levels, no data never fails, applied by kind/type/tag, shown on entity, team and card pages."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import scorecards, services
from catalog.models import Scorecard, ScorecardResult
from tests.catalog.conftest import entity
from tests.catalog.test_import import FULL

pytestmark = pytest.mark.django_db

RULES = """
bronze: has_owner
bronze: has_description
silver: lifecycle_set
silver: has_link dashboard
gold: has_runbook
gold: ci_success_rate 90
"""


@pytest.fixture
def card(import_text, platform_admin):
    import_text(FULL)
    return services.scorecard_save(
        actor=platform_admin, name="Production readiness", rules_text=RULES, applies_to_kind="Component"
    )


@pytest.fixture
def only_these_data_sources():
    """Start the test with no data source registered; put the installed apps' back afterwards."""
    saved = dict(scorecards._data_sources)
    scorecards._data_sources.clear()
    yield
    scorecards._data_sources.clear()
    scorecards._data_sources.update(saved)


def result(card, ref):
    return ScorecardResult.objects.get(scorecard=card, entity=entity(ref))


def test_levels_follow_the_rules_and_missing_data_sources_say_no_data(only_these_data_sources, card):
    checkout = result(card, "component:default/checkout")  # owner, description, lifecycle, dashboard link
    assert checkout.level == "gold"
    statuses = {o["check"]: o["status"] for o in checkout.outcomes}
    assert statuses["has_runbook"] == "no_data" and statuses["ci_success_rate"] == "no_data"
    ledger = result(card, "component:default/ledger")  # owner but no description
    assert ledger.level == ""
    assert [o["check"] for o in ledger.failing] == ["has_description", "has_link"]
    assert all(o["fix"] for o in ledger.failing)
    # applies to components only
    assert not ScorecardResult.objects.filter(scorecard=card, entity__kind="API").exists()


def test_a_registered_data_source_turns_no_data_into_pass_or_fail(only_these_data_sources, card):
    checkout = entity("component:default/checkout")
    scorecards.register_data_source("runbooks", lambda entities: {checkout.pk: 1})
    scorecards.register_data_source("ci_success_rate_30d", lambda entities: {checkout.pk: 80.0})
    services.scorecards_evaluate()
    outcome = result(card, "component:default/checkout")
    assert outcome.level == "silver"
    assert [o["check"] for o in outcome.failing] == ["ci_success_rate"]
    assert "80 % of runs succeeded; 90 % needed" in outcome.failing[0]["message"]


def test_runbooks_in_the_knowledge_base_satisfy_the_runbook_rule(card, platform_admin):
    from knowledge import services as knowledge

    checkout = entity("component:default/checkout")
    assert {o["check"]: o["status"] for o in result(card, "component:default/checkout").outcomes}[
        "has_runbook"
    ] == "fail"
    space = knowledge.space_create(actor=platform_admin, key="ops", name="Ops", owner=None)
    knowledge.page_create(
        actor=platform_admin, space=space, title="Checkout down", kind="runbook", body="", entity_ids=[checkout.pk]
    )
    services.scorecards_evaluate()
    statuses = {o["check"]: o["status"] for o in result(card, "component:default/checkout").outcomes}
    assert statuses["has_runbook"] == "pass"
    assert statuses["ci_success_rate"] == "no_data"  # pipelines is installed, but no run in 30 days


def test_deployed_within_counts_days():
    now = timezone.now()
    e = type("E", (), {"pk": 1, "spec": {}})()
    values = {1: now - datetime.timedelta(days=10)}
    assert scorecards.evaluate("deployed_within", "14", e, values, now)[0] == "pass"
    assert scorecards.evaluate("deployed_within", "7", e, values, now)[0] == "fail"
    assert scorecards.evaluate("deployed_within", "7", e, None, now)[0] == "no_data"


def test_scorecards_apply_by_type_and_tag(import_text, platform_admin):
    import_text(FULL)
    by_tag = services.scorecard_save(
        actor=platform_admin, name="PCI", rules_text="bronze: has_owner", applies_to_tag="pci"
    )
    assert list(by_tag.results.values_list("entity__name", flat=True)) == ["checkout"]
    by_type = services.scorecard_save(
        actor=platform_admin, name="DBs", rules_text="bronze: has_owner", applies_to_type="database"
    )
    assert list(by_type.results.values_list("entity__name", flat=True)) == ["orders-db"]


def test_invalid_rules_are_explained(platform_admin):
    with pytest.raises(services.ServiceError, match="line 1: unknown check 'has_magic'"):
        services.scorecard_save(actor=platform_admin, name="X", rules_text="bronze: has_magic")
    with pytest.raises(services.ServiceError, match="needs a number"):
        services.scorecard_save(actor=platform_admin, name="X", rules_text="gold: ci_success_rate lots")
    with pytest.raises(services.ServiceError, match="write 'bronze|silver|gold"):
        services.scorecard_save(actor=platform_admin, name="X", rules_text="platinum: has_owner")


def test_only_platform_admins_define_scorecards(developer, login):
    with pytest.raises(services.PermissionDenied):
        services.scorecard_save(actor=developer, name="X", rules_text="bronze: has_owner")
    assert login(developer).get(reverse("catalog:scorecard-create")).status_code == 403


def test_an_entity_change_rescoring_is_queued_after_commit(card, import_text, django_capture_on_commit_callbacks):
    from unittest import mock

    with (
        mock.patch("catalog.tasks.evaluate_scorecards.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        import_text(FULL.replace("Takes orders.", "Takes orders fast."))
    delay.assert_called_once_with(entity_ids=[entity("component:default/checkout").pk])
    from catalog.tasks import evaluate_scorecards

    assert evaluate_scorecards.run(entity_ids=[entity("component:default/checkout").pk]) == 1


def test_the_entity_page_shows_its_level_and_how_to_fix_failing_rules(card, login, developer):
    body = login(developer).get(reverse("catalog:entity", args=["component", "default", "ledger"])).content.decode()
    assert "Production readiness" in body and "No level yet" in body
    assert "Write what it does in metadata.description." in body


def test_the_team_page_shows_its_entities_levels(only_these_data_sources, card, login, developer):
    body = login(developer).get(reverse("catalog:entity", args=["group", "default", "team-pay"])).content.decode()
    assert "Scorecard levels of what it owns" in body and "checkout" in body and "Gold" in body


def test_the_scorecard_page_shows_the_distribution(only_these_data_sources, card, login, developer, platform_admin):
    response = login(developer).get(reverse("catalog:scorecard", args=[card.pk]))
    assert dict(response.context["distribution"]) == {"gold": 1, "silver": 0, "bronze": 0, "none": 2}
    only_none = login(developer).get(reverse("catalog:scorecard", args=[card.pk]), {"level": "none"})
    assert [r.entity.name for r in only_none.context["page"].object_list] == ["ledger", "reports"]
    listing = login(developer).get(reverse("catalog:scorecards")).content.decode()
    assert "Production readiness" in listing


def test_a_platform_admin_creates_a_scorecard_in_the_browser(import_text, login, platform_admin):
    import_text(FULL)
    response = login(platform_admin).post(
        reverse("catalog:scorecard-create"),
        {"name": "Basics", "rules": "bronze: has_owner\nsilver: has_description", "applies_to_kind": ""},
    )
    assert response.status_code == 302
    card = Scorecard.objects.get(name="Basics")
    assert card.results.count() == 14
    bad = login(platform_admin).post(reverse("catalog:scorecard-create"), {"name": "Bad", "rules": "gold: nope"})
    assert "unknown check" in bad.content.decode()
