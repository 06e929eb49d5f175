"""Fixtures for provisioning: loaded templates, a team with the developer and the teammate, helpers."""

from pathlib import Path

import pytest

from catalog.models import Entity, Relation
from provisioning import runs, services
from provisioning.models import EnvironmentTemplate, Run, RunStatus
from provisioning.services import _common as services_common

TEST_TEMPLATES = Path(__file__).resolve().parent / "templates"


@pytest.fixture(autouse=True)
def _work_dir(settings, tmp_path):
    settings.PROVISIONING_WORK_DIR = tmp_path / "work"
    settings.PROVISIONING_HEARTBEAT_SECONDS = 1
    # The shared user fixtures hash a password each; a fast hasher keeps these tests quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def takeovers(monkeypatch):
    """Run ids whose takeover was asked for (a worker on their host would get them); no message is sent,
    nor the request to remove the secrets of a run failed on another host."""
    ids: list[int] = []
    monkeypatch.setattr(services_common, "_enqueue_supervision", lambda run: ids.append(run.pk))
    monkeypatch.setattr(services_common, "_enqueue_secret_removal", lambda run: None)
    return ids


@pytest.fixture
def enqueued(monkeypatch, takeovers):
    """Run ids enqueued for a worker; no message is sent, the test executes runs itself."""
    ids: list[int] = []
    # _new_run looks the function up in services._common, so that is where it is replaced.
    monkeypatch.setattr(services_common, "_enqueue_run", lambda run: ids.append(run.pk))
    return ids


@pytest.fixture
def shipped_templates(db):
    services.templates_reload()
    return {t.name: t for t in EnvironmentTemplate.objects.select_related("current_version")}


@pytest.fixture
def test_templates(db):
    services.templates_reload(directory=TEST_TEMPLATES)
    return {t.name: t for t in EnvironmentTemplate.objects.select_related("current_version")}


@pytest.fixture
def service_entity(db):
    return Entity.objects.create(kind="Component", name="checkout", title="Checkout service")


@pytest.fixture
def team(db, developer, teammate):
    group = Entity.objects.create(kind="Group", name="payments")
    for user in (developer, teammate):
        member = Entity.objects.create(kind="User", name=user.username, portal_user=user)
        Relation.objects.create(source=group, type="hasMember", target_ref=member.ref, target=member)
    return group


def submit(user, template, *, name="env-one", entity=None, team=None, ttl_hours=None, **parameters):
    return services.request_submit(
        user=user,
        template=template,
        entity=entity,
        team=team,
        name=name,
        justification="To test the change before merging.",
        ttl_hours=ttl_hours,
        parameters=parameters,
    )


def run_queued(request) -> list[str]:
    """Execute the request's queued runs in this process, as a worker would; returns the outcomes."""
    outcomes = []
    for run_id in Run.objects.filter(request=request, status=RunStatus.QUEUED).values_list("pk", flat=True):
        outcomes.append(runs.execute(run_id))
    request.refresh_from_db()
    return outcomes
