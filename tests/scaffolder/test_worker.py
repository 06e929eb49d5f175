"""A real Celery worker runs a software-template run end to end against the real Git server."""

import subprocess

import pytest

from catalog.models import Entity
from portal.githosts import integrations
from portal.models import GitIntegration
from scaffolder import services
from scaffolder.models import RunState, ScaffolderRun
from tests.worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_real_worker_creates_pushes_and_registers(celery_worker, github_api, git_server, published, team,
                                                   developer, tmp_path):  # fmt: skip
    # The worker reads integrations from the database (the test's settings do not reach it).
    GitIntegration.objects.create(type="github", host=git_server.host, api_base_url=github_api.api_url,
                                  allow_private_addresses="true")  # fmt: skip
    integrations.forget()
    draft = services.run_draft(user=developer, template=published, name="worker-api", owner="group:default/payments",
                               destination=f"github:{git_server.host}", repository_owner="acme",
                               parameters={"description": "Made by a worker."})  # fmt: skip
    services.run_confirm(user=developer, run_id=draft.pk)  # enqueued on commit
    done = wait_for(
        lambda: ScaffolderRun.objects.filter(pk=draft.pk, state__in=[RunState.SUCCEEDED, RunState.FAILED]).first(),
        timeout=120,
    )
    assert done is not None, celery_worker.log_path.read_text()[-3000:]
    assert done.state == RunState.SUCCEEDED, done.error
    assert Entity.objects.filter(kind="Component", name="worker-api").exists()
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", git_server.url("acme/worker-api"), str(checkout)], check=True)  # noqa: S603, S607
    assert (checkout / "catalog-info.yaml").exists()
