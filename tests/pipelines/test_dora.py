"""DORA metrics on a hand-computed fixture.

Window: the 30 days before 2026-11-30 00:00 UTC. Production deployments of acme/payments:

| id | status  | finished          | commit            | lead time |
|----|---------|-------------------|-------------------|-----------|
| D0 | success | 2026-10-20 12:00  | 2026-10-19 12:00  | 24 h (previous window) |
| D1 | success | 2026-11-02 12:00  | 2026-11-02 10:00  | 2 h  |
| D2 | failed  | 2026-11-05 12:00  | 2026-11-05 00:00  | —    |
| D3 | success | 2026-11-05 15:00  | 2026-11-04 15:00  | 24 h (recovers D2 after 3 h) |
| D4 | success | 2026-11-10 12:00  | 2026-11-07 12:00  | 72 h (incident 13:00–13:30: 30 min) |
| D5 | success | 2026-11-20 00:00  | 2026-11-19 00:00  | 24 h |

plus a staging deployment that must not count. So, by hand:

- deployment frequency: 4 successes / 30 days = 0.1333 per day (0.93 a week) → medium;
- change lead time: median(2, 24, 72, 24 h) = 24 h → high (not under one day);
- change fail rate: (D2 failed + D4 with an incident) / 5 deployments = 40 % → low;
- recovery time: median(3 h, 30 min) = 1 h 45 min → high.
"""

from datetime import UTC, datetime, timedelta

import pytest

from catalog.models import Entity
from incidents import lifecycle
from pipelines import selectors, services
from pipelines.models import Deployment, Repository

pytestmark = pytest.mark.django_db

UTC = UTC
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def at(month, day, hour=0, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def fixture_repo():
    team = Entity.objects.create(kind="Group", name="team-a")
    payments = Entity.objects.create(
        kind="Component",
        name="payments",
        annotations={"github.com/project-slug": "acme/payments"},
        spec={"owner": "group:default/team-a"},
    )
    Entity.objects.create(kind="Component", name="other", spec={"owner": "team-b"})
    repo = Repository.objects.create(provider="github", slug="acme/payments", entity=payments)
    rows = [
        ("D0", "success", at(10, 20, 12), at(10, 19, 12), "production"),
        ("D1", "success", at(11, 2, 12), at(11, 2, 10), "production"),
        ("D2", "failed", at(11, 5, 12), at(11, 5, 0), "production"),
        ("D3", "success", at(11, 5, 15), at(11, 4, 15), "production"),
        ("D4", "success", at(11, 10, 12), at(11, 7, 12), "production"),
        ("D5", "success", at(11, 20), at(11, 19), "production"),
        ("S1", "failed", at(11, 21), at(11, 20), "staging"),
    ]
    for provider_id, status, finished, commit_at, environment in rows:
        Deployment.objects.create(
            repository=repo,
            provider_id=provider_id,
            environment=environment,
            is_production=environment == "production",
            status=status,
            status_rank=2,
            created_at=finished,
            finished_at=finished,
            commit_at=commit_at,
        )
    services.incident_record(
        source="api",
        external_id="INC-7",
        title="Ledger errors",
        started_at=at(11, 10, 13),
        resolved_at=at(11, 10, 13, 30),
        repository_slug="acme/payments",
        deployment_id="D4",
    )
    return {"team": team, "payments": payments, "repo": repo}


def _by_key(metrics):
    return {m.key: m for m in metrics}


def test_deployment_frequency_counts_successful_production_deployments(fixture_repo):
    m = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["deployment_frequency"]
    assert m.value == pytest.approx(4 / 30)
    assert m.band == "medium"
    assert m.previous == pytest.approx(1 / 30)
    assert m.trend == "better"


def test_change_lead_time_is_the_median_from_commit_to_production(fixture_repo):
    m = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["change_lead_time"]
    assert m.value == 24 * 3600
    assert m.band == "high"
    assert m.trend == "same"


def test_change_fail_rate_counts_failed_deployments_and_incidents(fixture_repo):
    m = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["change_fail_rate"]
    assert m.value == pytest.approx(2 / 5)
    assert m.band == "low"
    assert m.trend == "worse"


def test_failed_deployment_recovery_time_is_the_median_of_recoveries(fixture_repo):
    m = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["recovery_time"]
    assert m.value == (3 * 3600 + 30 * 60) / 2
    assert m.band == "high"


def test_bands_follow_the_2023_report_thresholds():
    assert selectors.band_deployment_frequency(2) == "elite"
    assert selectors.band_deployment_frequency(1 / 3) == "high"
    assert selectors.band_deployment_frequency(1 / 14) == "medium"
    assert selectors.band_deployment_frequency(1 / 60) == "low"
    assert selectors.band_lead_time(3600) == "elite"
    assert selectors.band_lead_time(3 * 86400) == "high"
    assert selectors.band_lead_time(20 * 86400) == "medium"
    assert selectors.band_lead_time(90 * 86400) == "low"
    assert [selectors.band_change_fail_rate(r) for r in (0.05, 0.10, 0.15, 0.5)] == ["elite", "high", "medium", "low"]
    assert [selectors.band_recovery_time(s) for s in (600, 7200, 3 * 86400, 30 * 86400)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]


def test_no_production_deployments_is_no_data_rather_than_low():
    metrics = _by_key(selectors.dora_metrics(Repository.objects.none(), days=30, now=NOW))
    assert all(m.value is None and m.band is None for m in metrics.values())


def test_the_team_scope_collects_the_repositories_of_the_services_it_owns(fixture_repo):
    entities = selectors.team_entities(fixture_repo["team"])
    assert [e.name for e in entities] == ["payments"]
    repos = selectors.repositories_for_entities(entities)
    assert list(repos) == [fixture_repo["repo"]]


def test_the_metrics_api_returns_the_same_figures_for_a_team(fixture_repo, login, developer):
    client = login(developer)
    response = client.get("/api/pipelines/metrics/", {"team": "group:default/team-a", "until": NOW.isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "group:default/team-a"
    dora = {m["key"]: m for m in body["dora"]}
    assert dora["change_fail_rate"]["value"] == pytest.approx(0.4)
    assert dora["recovery_time"]["band"] == "high"


def test_the_metrics_api_refuses_an_unknown_entity_with_a_400(login, developer):
    response = login(developer).get("/api/pipelines/metrics/", {"entity": "component:default/nope"})
    assert response.status_code == 400
    assert "No catalog entity" in response.json()["error"]["message"]
    assert login(developer).get("/api/pipelines/metrics/", {"entity": "x:y", "days": "abc"}).status_code == 400


def test_a_runbook_incident_in_the_knowledge_base_counts_towards_recovery_time(
    fixture_repo, platform_admin, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from knowledge import services as knowledge
    from pipelines.models import Incident

    # The incident starts now: the window ends just after it, whatever today's date is.
    until = timezone.now() + timedelta(minutes=5)
    before = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=until))["recovery_time"].count
    space = knowledge.space_create(actor=platform_admin, key="ops", name="Ops", owner=None)
    runbook = knowledge.page_create(
        actor=platform_admin,
        space=space,
        title="Payments down",
        kind="runbook",
        body="- [ ] Check the ledger\n- [ ] Fail over\n",
        entity_ids=[fixture_repo["payments"].pk],
    )
    with django_capture_on_commit_callbacks(execute=True):
        incident = lifecycle.incident_start(
            actor=platform_admin,
            runbook=runbook,
            entity=fixture_repo["payments"],
            severity="sev2",
            summary="Ledger timeouts",
        )
    recorded = Incident.objects.get(source="knowledge", external_id=str(incident.pk))
    assert (recorded.title, recorded.entity, recorded.resolved_at) == (
        "Ledger timeouts",
        fixture_repo["payments"],
        None,
    )

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.incident_close(actor=platform_admin, incident=incident, outcome="resolved")
    recorded.refresh_from_db()
    assert recorded.resolved_at is not None and recorded.resolved_at <= timezone.now()
    after = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=until))["recovery_time"].count
    assert after == before + 1


def test_a_postmortem_naming_a_deployment_makes_it_a_failed_change(
    fixture_repo, platform_admin, django_capture_on_commit_callbacks
):
    from knowledge import services as knowledge

    before = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["change_fail_rate"].value
    space = knowledge.space_create(actor=platform_admin, key="ops", name="Ops", owner=None)
    runbook = knowledge.page_create(
        actor=platform_admin,
        space=space,
        title="Payments down",
        kind="runbook",
        body="",
        entity_ids=[fixture_repo["payments"].pk],
    )
    with django_capture_on_commit_callbacks(execute=True):
        incident = lifecycle.incident_start(
            actor=platform_admin, runbook=runbook, entity=fixture_repo["payments"], severity="sev2"
        )
        knowledge.page_create(
            actor=platform_admin,
            space=space,
            title="Postmortem",
            kind="postmortem",
            incident=incident,
            deployment_ref="D5",
        )
    after = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["change_fail_rate"].value
    assert after > before


def test_a_failure_in_production_is_recovered_by_a_success_in_production_whatever_the_case(fixture_repo):
    repo = fixture_repo["repo"]
    for provider_id, status, finished, environment in (
        ("C1", "failed", at(11, 25, 10), "Production"),
        ("C2", "success", at(11, 25, 11), "production"),
    ):
        Deployment.objects.create(
            repository=repo,
            provider_id=provider_id,
            environment=environment,
            is_production=True,
            status=status,
            status_rank=2,
            created_at=finished,
            finished_at=finished,
        )
    m = _by_key(selectors.dora_metrics(Repository.objects.all(), days=30, now=NOW))["recovery_time"]
    assert m.count == 3  # D2 by D3, the incident, and now C1 by C2 one hour later
    assert m.value == 3600  # median of 3 h, 30 min and 1 h
