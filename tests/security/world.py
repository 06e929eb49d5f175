"""One small world for the role × endpoint matrix: a team, its objects, and people around it.

Everything is made through the apps' services, as the portal itself would make it:

- ``team-matrix`` (a catalog Group) with ``developer`` and ``teammate`` as members; it owns the
  component ``svc-matrix``, the knowledge spaces ``matrix`` and ``matrix-open`` (opened for everyone
  to edit), and the environment requests;
- the catalog Users ``dev`` (linked to ``developer``) and ``dev-two`` (linked to nobody, with the
  developer's email as ``spec.profile.email``: the developer may claim it);
- ``svc-gone``, a component its source no longer has (an orphan);
- ``stranger`` is in no team; ``approver`` is an approver in no team; ``platform_admin`` is a
  Platform Admin in no team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from incidents import lifecycle

TEST_TEMPLATES = Path(__file__).resolve().parent.parent / "provisioning" / "templates"

CATALOG_YAML = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-matrix, title: Team Matrix}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dev}
spec: {memberOf: [team-matrix]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: teammate}
spec: {memberOf: [team-matrix]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dev-two}
spec: {profile: {displayName: Dev again, email: dev@example.com}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc-matrix
  description: Service of team Matrix
  annotations: {github.com/project-slug: acme/svc-matrix}
spec: {type: service, lifecycle: production, owner: team-matrix}
"""

GONE_YAML = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-gone}
spec: {type: service, lifecycle: deprecated, owner: team-matrix}
"""


@dataclass
class World:
    users: dict
    team: object = None
    entity: object = None
    user_entity: object = None  # user:default/dev, linked to the developer
    unlinked_user: object = None  # user:default/dev-two, linked to nobody, with the developer's email
    scorecard: object = None
    location: object = None  # a Git location on github.com (no integration here: reading it fails, recorded)
    discovery: object = None
    template: object = None
    pending: object = None  # a request of the developer's team awaiting approval
    approvers_own: object = None  # a request the approver made, awaiting approval
    active: object = None  # an active environment of the developer's team
    run: object = None  # the plan run of ``pending``
    integration: object = None  # GitHub
    integrations: dict = field(default_factory=dict)  # by provider
    repository: object = None
    pipeline_run: object = None
    deployment: object = None
    pipeline_incident: object = None
    space: object = None
    page: object = None
    runbook: object = None
    attachment: object = None
    incident: object = None
    open_space: object = None  # the team's, opened for everyone to edit
    open_page: object = None
    token: object = None
    notification: object = None
    audit_event: object = None
    software_template: object = None  # the shipped Python service
    scaffolder_run: object = None  # the developer's preview (draft) of a new service owned by the team


def _request_through_plan(services, runs_model, *, user, template, name, team, entity):
    request = services.request_submit(
        user=user,
        template=template,
        entity=entity,
        team=team,
        name=name,
        justification="The role matrix needs one.",
        ttl_hours=None,
        parameters={"n": 1, "k": 1},
    )
    plan = runs_model.objects.get(request=request, kind="plan")
    services.run_claim(run_id=plan.pk, worker="matrix-test")
    services.log_append(run_id=plan.pk, first_number=1, lines=["Plan: 1 to add, 0 to change, 0 to destroy."])
    services.run_plan_succeeded(run_id=plan.pk, summary={"add": 1, "change": 0, "destroy": 0})
    request.refresh_from_db()
    return request, plan


def build(users: dict) -> World:
    """Build the world; ``users`` maps role names to portal users (from tests/conftest.py)."""
    from catalog import services as catalog
    from catalog.models import Entity
    from knowledge import services as knowledge
    from pipelines import providers
    from pipelines import services as pipelines
    from portal import services as portal
    from portal.models import AuditEvent
    from provisioning import services as provisioning
    from provisioning.models import Run

    w = World(users=users)
    dev, approver, admin = users["developer"], users["approver"], users["platform_admin"]

    # Catalog: the team, its members linked to their portal users, its service; a scorecard.
    result = catalog.catalog_import_text(text=CATALOG_YAML, name="matrix")
    assert not result.problems, result.problems
    w.user_entity = Entity.objects.get(ref_key="user:default/dev")
    catalog.portal_user_link(entity=w.user_entity, user=dev)
    catalog.portal_user_link(entity=Entity.objects.get(ref_key="user:default/teammate"), user=users["teammate"])
    w.unlinked_user = Entity.objects.get(ref_key="user:default/dev-two")
    # An orphan for Platform Admins to delete: a component whose source no longer has it.
    catalog.catalog_import_text(text=GONE_YAML, name="matrix-gone")
    catalog.catalog_import_text(text=GONE_YAML.replace("svc-gone", "svc-kept"), name="matrix-gone")
    assert Entity.objects.get(ref_key="component:default/svc-gone").orphaned
    w.team = Entity.objects.get(ref_key="group:default/team-matrix")
    w.entity = Entity.objects.get(ref_key="component:default/svc-matrix")
    from catalog.models import CatalogLocation, Discovery

    w.location = CatalogLocation.objects.create(
        provider="github",
        host="github.com",
        repository="acme/svc-matrix",
        clone_url="https://github.com/acme/svc-matrix.git",
        web_url="https://github.com/acme/svc-matrix",
        ref="main",
        path="catalog-info.yaml",
    )
    w.discovery = Discovery.objects.create(provider="github", host="github.com", owner="acme")
    w.scorecard = catalog.scorecard_save(
        actor=admin, name="Matrix basics", rules_text="bronze: has_owner\nsilver: has_description"
    )

    # Provisioning: a template; one request awaiting approval, one active environment, the approver's own.
    provisioning.templates_reload(actor=admin, directory=TEST_TEMPLATES)
    from provisioning.models import EnvironmentTemplate

    w.template = EnvironmentTemplate.objects.get(name="slow")
    w.pending, w.run = _request_through_plan(
        provisioning, Run, user=dev, template=w.template, name="matrix-pending", team=w.team, entity=w.entity
    )
    w.active, _ = _request_through_plan(
        provisioning, Run, user=dev, template=w.template, name="matrix-active", team=w.team, entity=w.entity
    )
    provisioning.request_approve(user=approver, request_id=w.active.pk, comment="Fine.")
    apply = Run.objects.get(request=w.active, kind="apply")
    provisioning.run_claim(run_id=apply.pk, worker="matrix-test")
    provisioning.run_apply_succeeded(run_id=apply.pk, outputs={"url": "https://matrix.example.com"})
    w.active.refresh_from_db()
    w.approvers_own, _ = _request_through_plan(
        provisioning, Run, user=approver, template=w.template, name="matrix-approver", team=None, entity=None
    )

    # Pipelines: an integration, a run and a deployment of the service's repository, an incident.
    for provider in ("github", "gitlab", "generic"):
        created = pipelines.integration_create(
            actor=admin, provider=provider, name=f"{provider} matrix", repositories=["acme/*"]
        )
        w.integrations[provider] = created.integration
    w.integration = w.integrations["github"]
    now = timezone.now()
    repo = providers.RepoInfo(provider="github", slug="acme/svc-matrix", default_branch="main")
    w.pipeline_run = pipelines.run_upsert(
        event=providers.RunEvent(
            repo=repo,
            pipeline_name="CI",
            run_id="1001",
            attempt=1,
            status="completed",
            conclusion="success",
            created_at=now - timedelta(minutes=10),
            started_at=now - timedelta(minutes=10),
            finished_at=now - timedelta(minutes=5),
            branch="main",
            commit_sha="a" * 40,
        )
    )
    w.repository = w.pipeline_run.pipeline.repository
    w.deployment = pipelines.deployment_upsert(
        event=providers.DeploymentEvent(
            repo=repo,
            deployment_id="2001",
            environment="production",
            status="success",
            created_at=now - timedelta(minutes=4),
            finished_at=now - timedelta(minutes=3),
            commit_sha="a" * 40,
        )
    )
    w.pipeline_incident = pipelines.incident_record(
        source="matrix",
        external_id="INC-1",
        title="Matrix outage",
        started_at=now - timedelta(minutes=2),
        entity=w.entity,
        actor=admin,
    )

    # Knowledge: the team's space, a page with two revisions and a file, a runbook and an incident.
    w.space = knowledge.space_create(actor=dev, key="matrix", name="Matrix", owner=w.team)
    w.page = knowledge.page_create(actor=dev, space=w.space, title="Matrix overview", body="# Matrix\n\nOne.")
    knowledge.page_update(
        actor=dev,
        page=w.page,
        title="Matrix overview",
        body="# Matrix\n\nTwo.",
        base_revision_id=w.page.current_revision_id,
    )
    w.page.refresh_from_db()
    w.attachment = knowledge.attachment_add(
        actor=dev, page=w.page, upload=SimpleUploadedFile("notes.txt", b"plain notes\n", content_type="text/plain")
    )
    w.runbook = knowledge.page_create(
        actor=dev,
        space=w.space,
        title="Matrix is down",
        kind="runbook",
        body="# Matrix is down\n\n- [ ] Look at the dashboard\n- [ ] Roll back\n",
        entity_ids=[w.entity.pk],
    )
    w.incident = lifecycle.incident_start(actor=dev, runbook=w.runbook, entity=w.entity, severity="sev3")
    w.open_space = knowledge.space_create(
        actor=dev, key="matrix-open", name="Matrix (open)", owner=w.team, open_for_edit=True
    )
    w.open_page = knowledge.page_create(actor=dev, space=w.open_space, title="Open notes", body="One.")
    knowledge.page_update(
        actor=dev, page=w.open_page, title="Open notes", body="Two.", base_revision_id=w.open_page.current_revision_id
    )
    w.open_page.refresh_from_db()
    knowledge.attachment_add(
        actor=dev,
        page=w.open_page,
        upload=SimpleUploadedFile("notes.txt", b"open notes\n", content_type="text/plain"),
    )

    # Create: the shipped software template, and the developer's preview of a service for the team.
    from scaffolder import services as scaffolder
    from scaffolder.models import SoftwareTemplate

    scaffolder.templates_reload(actor=None)
    w.software_template = SoftwareTemplate.objects.get(name="python-service")
    w.scaffolder_run = scaffolder.run_draft(
        user=dev,
        template=w.software_template,
        name="svc-matrix-new",
        owner="group:default/team-matrix",
        destination="local",
        parameters={"description": "The role matrix needs one."},
    )

    # Portal: the developer's token and notification; an audit event.
    w.token = portal.token_create(user=dev, name="matrix").token
    w.notification = portal.notify(users=[dev], event="matrix", title="Matrix notice", url="/")[0]
    w.audit_event = AuditEvent.objects.order_by("pk").first()
    return w
