"""An admin sets an integration's secret (to keep the one an organisation's webhook already has) or rotates it;
an empty secret is never accepted, in the form or in the stored data."""

import json
import uuid

import pytest
from django.db import IntegrityError, transaction

from pipelines import secrets, services
from pipelines.models import Delivery, Integration
from portal.models import AuditEvent
from portal.services import ServiceError
from tests.pipelines.fixtures import load

pytestmark = pytest.mark.django_db

ORG_SECRET = "the-acme-org-webhook-secret-2019"


def _ping(client, integration, secret):
    body = json.dumps(load("octokit/ping/payload.json")).encode()
    return client.post(
        integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="ping",
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(secret, body),
    )


def test_an_admin_sets_the_secret_the_organisations_webhook_already_has(login, platform_admin, github):
    client = login(platform_admin)
    response = client.post(f"/pipelines/integrations/{github.integration.pk}/secret/", {"secret": ORG_SECRET})
    assert response.status_code == 302
    assert _ping(client, github.integration, ORG_SECRET).status_code == 202
    assert _ping(client, github.integration, github.secret).status_code == 401  # the generated one stopped
    integration = Integration.objects.get()
    assert integration.secret_chosen and integration.secret_prefix == ""
    event = AuditEvent.objects.get(action="pipelines.integration.secret_set")
    assert ORG_SECRET not in json.dumps(event.changes)
    page = client.get(f"/pipelines/integrations/{integration.pk}/").content.decode()
    assert ORG_SECRET not in page and "set by an admin" in page


def test_an_integration_created_with_its_own_secret_shows_no_secret(login, platform_admin):
    client = login(platform_admin)
    response = client.post(
        "/pipelines/integrations/new/",
        {
            "provider": "github",
            "name": "GitHub acme org",
            "repositories": "acme/*",
            "secret_source": "own",
            "secret": ORG_SECRET,
        },
    )
    assert response.status_code == 200
    assert ORG_SECRET not in response.content.decode()
    assert "uses the secret you gave" in response.content.decode()
    assert _ping(client, Integration.objects.get(), ORG_SECRET).status_code == 202


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_secret_is_refused_by_the_form(login, platform_admin, github, secret):
    before = Integration.objects.get().secret_encrypted
    response = login(platform_admin).post(
        f"/pipelines/integrations/{github.integration.pk}/secret/", {"secret": secret}
    )
    assert response.status_code == 400
    assert "The secret cannot be empty." in response.content.decode()
    assert Integration.objects.get().secret_encrypted == before


def test_choosing_an_own_secret_without_typing_one_is_a_form_error(login, platform_admin):
    response = login(platform_admin).post(
        "/pipelines/integrations/new/",
        {"provider": "gitlab", "name": "GitLab", "repositories": "shop/*", "secret_source": "own", "secret": ""},
    )
    assert response.status_code == 400
    assert "A secret is never empty." in response.content.decode()
    assert not Integration.objects.exists()


@pytest.mark.parametrize(
    "secret, message",
    [("", "cannot be empty"), (" padded ", "starts or ends with a space"), ("a\nb", "control character")],
)
def test_the_service_refuses_secrets_a_sender_could_not_match(platform_admin, github, secret, message):
    with pytest.raises(ServiceError, match=message):
        services.integration_secret_set(actor=platform_admin, integration_id=github.integration.pk, secret=secret)
    with pytest.raises(ServiceError, match=message):
        services.integration_create(
            actor=platform_admin, provider="generic", name="x", repositories=["*"], secret=secret
        )


def test_the_database_refuses_an_integration_without_a_secret(github):
    with pytest.raises(IntegrityError), transaction.atomic():
        Integration.objects.filter(pk=github.integration.pk).update(secret_encrypted="")


def test_an_empty_secret_in_the_stored_data_verifies_nothing(client, github):
    # Written behind the services' back (an old row, a restore): an empty HMAC key would let anyone sign.
    Integration.objects.filter(pk=github.integration.pk).update(secret_encrypted=secrets.encrypt(""))
    response = _ping(client, github.integration, "")
    assert response.status_code == 401
    assert "no secret" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


def test_rotating_still_generates_and_shows_a_new_secret_once(login, platform_admin, github):
    services.integration_secret_set(actor=platform_admin, integration_id=github.integration.pk, secret=ORG_SECRET)
    response = login(platform_admin).post(f"/pipelines/integrations/{github.integration.pk}/rotate/")
    integration = Integration.objects.get()
    new = secrets.decrypt(integration.secret_encrypted)
    assert new.startswith("whs_") and new in response.content.decode()
    assert not integration.secret_chosen


def test_only_platform_admins_set_a_secret_or_a_scope(login, developer, github):
    client = login(developer)
    url = f"/pipelines/integrations/{github.integration.pk}"
    assert client.get(f"{url}/").status_code == 403
    assert client.post(f"{url}/secret/", {"secret": ORG_SECRET}).status_code == 403
    assert client.post(f"{url}/scope/", {"repositories": "*"}).status_code == 403
    assert secrets.decrypt(Integration.objects.get().secret_encrypted) == github.secret


def test_the_integration_page_sets_the_scope_and_lists_refused_deliveries(login, platform_admin, github, client):
    admin = login(platform_admin)
    response = admin.post(f"/pipelines/integrations/{github.integration.pk}/scope/", {"repositories": "acme/web"})
    assert response.status_code == 302
    assert Integration.objects.get().repositories == ["acme/web"]
    payload = load("octokit/workflow_run/completed.payload.json")
    body = json.dumps(payload).encode()
    refused = client.post(
        github.integration.receiver_path(),
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="workflow_run",
        HTTP_X_GITHUB_DELIVERY="d-refused",
        HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(github.secret, body),
    )
    assert refused.status_code == 403
    page = admin.get(f"/pipelines/integrations/{github.integration.pk}/").content.decode()
    assert "d-refused" in page and "octo-org/octo-repo" in page
    assert "1 refused this week" in admin.get("/pipelines/integrations/").content.decode()


def test_a_scope_that_names_nothing_is_a_form_error(login, platform_admin, github):
    response = login(platform_admin).post(
        f"/pipelines/integrations/{github.integration.pk}/scope/", {"repositories": "", "owners": ""}
    )
    assert response.status_code == 400
    assert "Give the repositories" in response.content.decode()
    bad = login(platform_admin).post(
        f"/pipelines/integrations/{github.integration.pk}/scope/", {"repositories": "acme/[x]"}
    )
    assert bad.status_code == 400 and "is not a repository or a pattern" in bad.content.decode()
