"""The demo seeder, and processing by a real Celery worker."""

import json
import uuid

import pytest
from django.core.management import call_command

from pipelines import secrets, services
from pipelines.models import Delivery, DeliveryStatus, Deployment, Integration, Run
from tests.pipelines import payloads
from tests.worker import wait_for


@pytest.mark.django_db
def test_seed_demo_creates_pipelines_data_and_is_safe_to_run_again():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    runs, deployments = Run.objects.count(), Deployment.objects.count()
    assert runs > 50 and deployments > 5
    assert Integration.objects.filter(name="Demo GitHub").count() == 1
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (Run.objects.count(), Deployment.objects.count()) == (runs, deployments)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_deliveries_queued_by_the_receiver(client, platform_admin, celery_worker, monkeypatch):
    monkeypatch.undo()  # use the real broker, not the test stub
    new = services.integration_create(actor=platform_admin, provider="github", name="GitHub live", repositories=["*"])
    for payload in (payloads.workflow_run(action="in_progress", status="in_progress"), payloads.workflow_run()):
        body = json.dumps(payload).encode()
        response = client.post(
            new.integration.receiver_path(),
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="workflow_run",
            HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
            HTTP_X_HUB_SIGNATURE_256=secrets.github_signature(new.secret, body),
        )
        assert response.status_code == 202
    done = wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 0, timeout=60)
    assert done, "the worker did not process the deliveries"
    assert Run.objects.get().status == "success"
