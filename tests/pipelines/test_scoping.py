"""An integration posts only for the repositories (or the catalog owners) it was made for."""

import json

import pytest

from catalog.models import Entity
from pipelines import services
from pipelines.models import Delivery, DeliveryStatus, Incident, Run
from tests.pipelines.conftest import process_pending
from tests.pipelines.fixtures import load

pytestmark = pytest.mark.django_db


def _run(repository: str, status: str = "failed") -> dict:
    return {
        "type": "run",
        "repository": repository,
        "pipeline": "nightly",
        "run_id": "7",
        "status": status,
        "branch": "main",
        "default_branch": "main",
        "created_at": "2026-11-20T10:00:00Z",
        "finished_at": "2026-11-20T10:05:00Z",
    }


@pytest.fixture
def team_a_jenkins(platform_admin):
    return services.integration_create(
        actor=platform_admin, provider="generic", name="Jenkins team A", repositories=["acme/batch"]
    )


def _post(client, new, payload):
    return client.post(
        new.integration.receiver_path(),
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {new.secret}",
    )


def test_a_generic_secret_cannot_post_a_run_for_another_teams_repository(client, team_a_jenkins):
    response = _post(client, team_a_jenkins, _run("acme/payments"))
    assert response.status_code == 403
    assert "acme/payments" in response.json()["error"]["message"]
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.REFUSED
    assert "acme/payments" in delivery.error
    process_pending()
    assert not Run.objects.exists()


def test_a_generic_secret_posts_for_its_own_repository(client, team_a_jenkins):
    assert _post(client, team_a_jenkins, _run("acme/batch")).status_code == 202
    process_pending()
    assert Run.objects.get().pipeline.repository.slug == "acme/batch"


def test_repository_patterns_match_an_organisation_without_case(platform_admin, client):
    org = services.integration_create(
        actor=platform_admin, provider="github", name="GitHub octo-org", repositories=["Octo-Org/*"]
    )
    from pipelines import secrets

    def send(payload):
        body = json.dumps(payload).encode()
        return client.post(
            org.integration.receiver_path(),
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="workflow_run",
            HTTP_X_GITHUB_DELIVERY=str(len(body)) + payload["repository"]["full_name"],
            HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(org.secret, body),
        )

    payload = load("octokit/workflow_run/completed.payload.json")
    assert payload["repository"]["full_name"] == "octo-org/octo-repo"
    assert send(payload).status_code == 202
    payload["repository"]["full_name"] = "octo-org-evil/octo-repo"
    assert send(payload).status_code == 403


def test_an_integration_scoped_to_an_owner_posts_for_that_teams_services_only(client, platform_admin):
    Entity.objects.create(kind="Group", name="team-a")
    Entity.objects.create(
        kind="Component",
        name="batch",
        annotations={"github.com/project-slug": "acme/batch"},
        spec={"owner": "group:default/team-a"},
    )
    Entity.objects.create(
        kind="Component",
        name="payments",
        annotations={"github.com/project-slug": "acme/payments"},
        spec={"owner": "group:default/team-b"},
    )
    new = services.integration_create(
        actor=platform_admin, provider="generic", name="Jenkins A", owners=["group:default/team-a"]
    )
    assert _post(client, new, _run("acme/batch")).status_code == 202
    assert _post(client, new, _run("acme/payments")).status_code == 403
    assert _post(client, new, _run("acme/unknown")).status_code == 403


def test_an_incident_for_another_teams_entity_is_refused(client, platform_admin):
    Entity.objects.create(kind="Group", name="team-a")
    Entity.objects.create(kind="Component", name="payments", spec={"owner": "group:default/team-b"})
    new = services.integration_create(
        actor=platform_admin, provider="generic", name="Pager A", owners=["group:default/team-a"]
    )
    incident = {
        "type": "incident",
        "incident_id": "INC-1",
        "title": "Down",
        "started_at": "2026-11-20T10:00:00Z",
        "entity": "component:default/payments",
    }
    assert _post(client, new, incident).status_code == 403
    process_pending()
    assert not Incident.objects.exists()


def test_a_refused_delivery_sent_again_after_the_scope_grew_is_processed(client, team_a_jenkins, platform_admin):
    payload = {**_run("acme/payments"), "delivery_id": "d-77"}
    assert _post(client, team_a_jenkins, payload).status_code == 403
    services.integration_scope_set(
        actor=platform_admin,
        integration_id=team_a_jenkins.integration.pk,
        repositories=["acme/batch", "acme/payments"],
        owners=[],
    )
    response = _post(client, team_a_jenkins, payload)
    assert response.status_code == 202
    process_pending()
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED
    assert Run.objects.get().pipeline.repository.slug == "acme/payments"


def test_an_integration_needs_a_scope(platform_admin):
    from portal.services import ServiceError

    with pytest.raises(ServiceError, match="repositories"):
        services.integration_create(actor=platform_admin, provider="generic", name="Nowhere")


def test_a_repository_linked_by_hand_counts_for_its_entitys_owner(client, platform_admin):
    from pipelines.models import Repository

    Entity.objects.create(kind="Group", name="team-a")
    batch = Entity.objects.create(kind="Component", name="batch", spec={"owner": "group:default/team-a"})
    repo = Repository.objects.create(provider="generic", slug="legacy/batch-jobs")
    services.repository_link(actor=platform_admin, repository_id=repo.pk, entity=batch)
    new = services.integration_create(actor=platform_admin, provider="generic", name="Jenkins A", owners=["team-a"])
    assert new.integration.owners == ["group:default/team-a"]
    assert _post(client, new, _run("legacy/batch-jobs")).status_code == 202
