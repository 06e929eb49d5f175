"""Runs against real Git: repositories are created through the simulated GitHub/GitLab APIs (recorded
responses, tests/fixtures/githosts/scaffolder_recorded.json), pushed to with ``git`` over smart HTTP,
cloned back and read; the catalog registers the new repository as a location.

The steps run in the test process (``run_execute`` is what the Celery task calls);
test_worker.py runs one through a real worker.
"""

import subprocess

import pytest

from catalog.models import CatalogLocation, Entity
from portal.githosts.httpclient import forget_rate_limits
from scaffolder import services
from scaffolder.models import RunState, StepState

VALUES = {"description": "Takes payments from the shop.", "system": "shop"}


@pytest.fixture
def enqueued(monkeypatch):
    ids = []
    monkeypatch.setattr(services, "_enqueue", lambda run_id: ids.append(run_id))
    return ids


def create(user, template, *, name="payments-api", destination, **extra):
    run = services.run_draft(
        user=user,
        template=template,
        name=name,
        owner="group:default/payments",
        destination=destination,
        parameters=dict(VALUES),
        **extra,
    )
    return services.run_confirm(user=user, run_id=run.pk)


def clone(url, tmp_path, name="clone"):
    target = tmp_path / name
    subprocess.run(["git", "clone", "-q", url, str(target)], check=True, capture_output=True, timeout=60)  # noqa: S603, S607
    return target


def git_log(repo, fmt):
    return subprocess.run(  # noqa: S603, S607
        ["git", "-C", str(repo), "log", f"--format={fmt}"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.django_db
def test_a_github_run_creates_the_repository_pushes_as_the_developer_and_registers_the_entity(
    github_api, git_server, published, team, developer, enqueued, tmp_path
):
    run = create(developer, published, destination=f"github:{git_server.host}", repository_owner="acme")
    assert run.state == RunState.QUEUED and enqueued == [run.pk]
    assert services.run_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert [s.state for s in run.steps.all()] == [StepState.SUCCEEDED] * 5
    post = [r for r in github_api.requests if r["method"] == "POST"]
    assert [r["path"] for r in post] == ["/api/v3/orgs/acme/repos"]
    assert github_api.bodies[0] == {"name": "payments-api", "description": "Takes payments from the shop.",
                                    "private": True, "visibility": "private", "auto_init": False}  # fmt: skip
    checkout = clone(git_server.url("acme/payments-api"), tmp_path)
    assert (checkout / "src" / "payments_api" / "app.py").exists()
    assert (checkout / ".github" / "workflows" / "ci.yml").exists() and (checkout / ".gitlab-ci.yml").exists()
    assert "owner: group:default/payments" in (checkout / "catalog-info.yaml").read_text()
    assert git_log(checkout, "%an <%ae>|%cn <%ce>") == "dev <dev@example.com>|Bridge <bridge@portal.invalid>"
    entity = Entity.objects.get(kind="Component", namespace="default", name="payments-api")
    assert entity.spec["owner"] == "group:default/payments" and entity.spec["system"] == "shop"
    location = CatalogLocation.objects.get(pk=run.outputs["location_id"])
    assert location.repository == "acme/payments-api" and location.path == "catalog-info.yaml"
    assert run.outputs["entity_url"] == entity.get_absolute_url()
    assert any("Pushed" in line.text for line in run.log_lines.all())


@pytest.mark.django_db
def test_a_failed_push_says_what_was_created_and_a_retry_continues_from_there(
    github_api, git_server, published, team, developer, enqueued, tmp_path
):
    run = create(developer, published, destination=f"github:{git_server.host}", repository_owner="acme")
    git_server.redirect("/acme/payments-api.git", "http://elsewhere.example/")  # the push cannot reach it
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    states = {s.key: s.state for s in run.steps.all()}
    assert states["repository"] == StepState.SUCCEEDED and states["push"] == StepState.FAILED
    assert states["register"] == StepState.PENDING
    assert (
        "Push the initial commit failed" in run.error
        and "Bridge created: the repository acme/payments-api" in run.error
    )
    git_server.redirects.clear()
    services.run_retry(user=developer, run_id=run.pk)
    assert services.run_execute(run.pk) == "succeeded"
    assert [r["path"] for r in github_api.requests if r["method"] == "POST"] == ["/api/v3/orgs/acme/repos"]
    assert git_log(clone(git_server.url("acme/payments-api"), tmp_path), "%s").startswith("Create payments-api")


@pytest.mark.django_db
def test_a_failed_run_is_cleaned_up_on_request(github_api, git_server, published, team, developer, enqueued):
    run = create(developer, published, destination=f"github:{git_server.host}", repository_owner="acme")
    git_server.redirect("/acme/payments-api.git", "http://elsewhere.example/")
    services.run_execute(run.pk)
    removed = services.run_cleanup(user=developer, run_id=run.pk)
    assert removed == ["repository acme/payments-api"]
    assert ("DELETE", "/api/v3/repos/acme/payments-api") in [(r["method"], r["path"]) for r in github_api.requests]
    assert "acme/payments-api" not in github_api.repos


@pytest.mark.django_db
def test_a_rate_limited_host_fails_the_step_and_nothing_is_created(
    github_api, git_server, published, team, developer, enqueued
):
    run = create(developer, published, destination=f"github:{git_server.host}", repository_owner="acme")
    github_api.limit_next(1, kind="primary", retry_after=3600)
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "rate-limiting" in run.error and "Nothing was created" in run.error
    forget_rate_limits()  # an hour later, the limit has passed
    services.run_retry(user=developer, run_id=run.pk)
    assert services.run_execute(run.pk) == "succeeded"
    renders = [line.text for line in run.log_lines.all() if line.text == "▶ Render the template"]
    assert len(renders) == 1  # the render step is not repeated


@pytest.mark.django_db
def test_a_name_taken_on_github_by_a_repository_with_commits_is_refused(
    github_api, git_server, published, team, developer, enqueued
):
    git_server.commit("acme/payments-api", {"README.md": "someone else's"})
    github_api.add("acme/payments-api")
    run = create(developer, published, destination=f"github:{git_server.host}", repository_owner="acme")
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "exists already" in run.error and "holds commits" in run.error


@pytest.mark.django_db
def test_a_gitlab_run_creates_the_project_in_its_group(
    gitlab_api, git_server, published, team, developer, enqueued, tmp_path
):
    gitlab_api.add_group("acme")
    run = create(developer, published, destination=f"gitlab:{git_server.host}", repository_owner="acme",
                 visibility="internal")  # fmt: skip
    assert services.run_execute(run.pk) == "succeeded", run.error
    body = gitlab_api.bodies[0]
    assert body["namespace_id"] == gitlab_api.groups["acme"] and body["visibility"] == "internal"
    assert body["default_branch"] == "main"
    assert (clone(git_server.url("acme/payments-api"), tmp_path) / "Dockerfile").exists()
    assert Entity.objects.filter(kind="Component", name="payments-api").exists()


@pytest.mark.django_db
def test_an_existing_empty_repository_is_used_and_a_non_empty_one_refused(
    git_server, git_integrations, published, team, developer, enqueued, tmp_path
):
    git_integrations([{"type": "git", "host": git_server.host, "allow_private_addresses": True}])
    git_server.create_empty("acme/empty")
    run = create(developer, published, destination="existing", repository_url=git_server.url("acme/empty"))
    assert services.run_execute(run.pk) == "succeeded", run.error
    assert (clone(git_server.url("acme/empty"), tmp_path) / "mkdocs.yml").exists()
    git_server.commit("acme/full", {"README.md": "x"})
    other = create(developer, published, name="other-api", destination="existing",
                   repository_url=git_server.url("acme/full"))  # fmt: skip
    assert services.run_execute(other.pk) == "failed"
    other.refresh_from_db()
    assert "not empty" in other.error


@pytest.mark.django_db
def test_the_local_git_folder_works_offline(settings, published, team, developer, enqueued, tmp_path):
    run = create(developer, published, destination="local")
    assert services.run_execute(run.pk) == "succeeded", run.error
    bare = tmp_path / "local-git" / "payments-api.git"
    assert git_log(bare, "%an|%cn") == "dev|Bridge"
    assert Entity.objects.filter(kind="Component", name="payments-api").exists()
    # Running the same run again changes nothing (it is claimed once).
    assert services.run_execute(run.pk) == "not queued"


@pytest.mark.django_db
def test_a_first_environment_is_requested_from_the_named_template(published, team, developer, enqueued, monkeypatch):
    from provisioning import services as provisioning_services
    from provisioning.models import EnvironmentRequest
    from provisioning.services import _common

    monkeypatch.setattr(_common, "_enqueue_run", lambda run: None)  # its plan is provisioning's business
    provisioning_services.templates_reload()
    run = create(developer, published, destination="local", with_environment=True)
    assert [s.key for s in run.steps.all()][-1] == "environment"
    assert services.run_execute(run.pk) == "succeeded", run.error
    run.refresh_from_db()
    request = EnvironmentRequest.objects.get(pk=run.outputs["environment_request_id"])
    assert request.template.name == "preview" and request.requester == developer
    assert request.parameters["app"] == "payments-api" and request.name == "payments-api-preview"
    assert request.entity.name == "payments-api" and request.team == team


@pytest.mark.django_db
def test_without_the_choice_no_environment_is_requested(published, team, developer, enqueued):
    run = create(developer, published, destination="local")
    assert "environment" not in [s.key for s in run.steps.all()]


@pytest.mark.django_db
def test_a_run_whose_worker_died_resumes_when_its_message_comes_back(published, team, developer, enqueued):
    from datetime import timedelta

    from django.utils import timezone

    from scaffolder.models import ScaffolderRun

    run = create(developer, published, destination="local")
    # The worker died in the middle of the push: the run is "running", untouched for longer than a task may last.
    ScaffolderRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING)
    run.steps.filter(key="render").update(state=StepState.SUCCEEDED)
    run.steps.filter(key="push").update(state=StepState.RUNNING)
    assert services.run_execute(run.pk) == "not queued"  # another worker may still be on it
    ScaffolderRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=15))
    assert services.run_execute(run.pk) == "succeeded"


@pytest.mark.django_db
def test_cleaning_up_a_local_run_orphans_its_catalog_entry(published, team, developer, enqueued, monkeypatch):
    from catalog.models import Entity

    run = create(developer, published, destination="local")
    monkeypatch.setitem(services.STEPS, "docs", lambda run, log: (_ for _ in ()).throw(services.ServiceError("x")))
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "its catalog entry" in run.error and "the repository payments-api" in run.error
    removed = services.run_cleanup(user=developer, run_id=run.pk)
    assert removed == ["catalog entry component:default/payments-api", "repository payments-api"]
    assert Entity.objects.get(kind="Component", name="payments-api").orphaned


def _fail_the_environment_step(monkeypatch):
    failing = lambda run, log: (_ for _ in ()).throw(services.ServiceError("no cluster"))  # noqa: E731
    monkeypatch.setitem(services.STEPS, "environment", failing)


@pytest.mark.django_db
def test_the_docs_step_creates_the_services_knowledge_space_from_its_docs_pages(published, team, developer, enqueued):
    from knowledge.models import Space

    run = create(developer, published, destination="local")
    assert services.run_execute(run.pk) == "succeeded", run.error
    run.refresh_from_db()
    space = Space.objects.get(key="payments-api")
    assert space.name == "payments-api" and space.owner == team
    pages = {p.source_path: p for p in space.pages.all()}
    assert sorted(pages) == ["index.md", "operations.md"]
    assert "Takes payments from the shop." in pages["index.md"].body
    entity = Entity.objects.get(kind="Component", name="payments-api")
    assert all(p.entities.filter(pk=entity.pk).exists() for p in pages.values())
    assert run.outputs["docs_space"] == {"key": "payments-api", "url": space.get_absolute_url()}
    docs = run.steps.get(key="docs")
    assert docs.state == StepState.SUCCEEDED and space.get_absolute_url() in docs.message


@pytest.mark.django_db
def test_a_docs_step_run_again_reuses_its_space(published, team, developer, enqueued):
    from datetime import timedelta

    from django.utils import timezone

    from knowledge.models import Page, Space
    from scaffolder.models import ScaffolderRun

    run = create(developer, published, destination="local")
    assert services.run_execute(run.pk) == "succeeded", run.error
    # The worker died after the space was made, before the step was marked done: the run resumes.
    run.steps.filter(key="docs").update(state=StepState.RUNNING)
    stale = timezone.now() - timedelta(minutes=15)
    ScaffolderRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, updated_at=stale)
    assert services.run_execute(run.pk) == "succeeded"
    assert Space.objects.filter(key__startswith="payments-api").count() == 1
    assert Page.objects.filter(space__key="payments-api").count() == 2
    assert "is there already" in run.steps.get(key="docs").message


@pytest.mark.django_db
def test_a_space_with_the_services_name_is_not_taken_over(published, team, developer, enqueued):
    from knowledge.models import Space

    Space.objects.create(key="payments-api", name="Someone else's notes")
    run = create(developer, published, destination="local")
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "has a space with the key payments-api already" in run.error
    assert Space.objects.get(key="payments-api").name == "Someone else's notes"
    assert services.run_cleanup(user=developer, run_id=run.pk)
    assert Space.objects.filter(key="payments-api").exists()


@pytest.mark.django_db
def test_cleaning_up_a_failed_run_removes_its_docs_space(published, team, developer, enqueued, monkeypatch):
    from knowledge.models import Page, Space

    _fail_the_environment_step(monkeypatch)
    run = create(developer, published, destination="local", with_environment=True)
    assert services.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "the docs space payments-api" in run.error
    removed = services.run_cleanup(user=developer, run_id=run.pk)
    assert removed[0] == "docs space payments-api"
    assert not Space.objects.filter(key="payments-api").exists()
    assert not Page.objects.filter(source_path="operations.md").exists()
