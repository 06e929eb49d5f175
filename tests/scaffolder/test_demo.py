"""The offline example of the issue: ``seed_demo`` publishes the Python service and makes the local
Git folder, and the demo developer creates a service there that the catalog then lists."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Entity
from knowledge.models import Space
from scaffolder import services
from scaffolder.models import SoftwareTemplate


@pytest.mark.django_db
def test_after_seed_demo_the_demo_developer_creates_a_python_service_in_the_local_git_folder(settings, monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)  # the steps run below, in this process
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    template = SoftwareTemplate.objects.get(name="python-service")
    assert template.is_active and not template.last_load_error
    local_git = Path(settings.SCAFFOLDER_LOCAL_GIT_ROOT)
    assert local_git.is_dir()

    developer = get_user_model().objects.get(username="developer")
    assert ("local", "New repository in the portal's local Git folder") in services.destinations()
    run = services.run_draft(
        user=developer,
        template=template,
        name="refunds-api",
        owner="group:default/team-payments",
        destination="local",
        parameters={"description": "Pays refunds back to cards.", "system": "payments"},
    )
    services.run_confirm(user=developer, run_id=run.pk)
    assert services.run_execute(run.pk) == "succeeded"
    assert (local_git / "refunds-api.git").is_dir()
    component = Entity.objects.get(kind="Component", namespace="default", name="refunds-api")
    assert component.spec["owner"] == "group:default/team-payments" and component.spec["system"] == "payments"
    assert Space.objects.get(key="refunds-api").pages.filter(entities=component).count() == 2
