"""Every state change of software templates and runs.

A run goes ``draft`` (the preview) → ``pending_approval`` (when the template asks) → ``queued`` →
``running`` → ``succeeded`` or ``failed``; a failed run can be retried from its failed step, and
what it created can be cleaned up. Each transition locks the row, checks who may make it and from
which state, writes the audit log and enqueues the work after the commit. Steps are idempotent:
each records what it made in ``run.outputs`` and a retry skips what is done.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from catalog.models import Entity, Kind
from catalog.selectors import entity_by_parts, entity_by_ref, teams_of
from portal import crypto, extensions, safe_yaml
from portal.githosts import errors as host_errors
from portal.githosts.integrations import all_integrations, integration_for_host
from portal.models import NotificationEvent
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError, audit_record, notify
from provisioning.services import SECRET_MASK, parameters_check, secret_parameter_names
from scaffolder import permissions, repositories, sandbox
from scaffolder.models import RunApproval, RunLogLine, RunState, RunStep, ScaffolderRun, SoftwareTemplate, StepState

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}){0,4}$")
ENCRYPTION_PURPOSE = "scaffolder"
VISIBILITIES = ("private", "internal", "public")
STALE_RUNNING_SECONDS = 700  # longer than the task's hard time limit (scaffolder.tasks)
STEP_TITLES = {
    "render": "Render the template",
    "repository": "Create the repository",
    "push": "Push the initial commit",
    "register": "Register in the catalog",
    "docs": "Set up the docs",
    "environment": "Request a first environment",
}


class RunInvalid(ServiceError):
    """The values cannot make a run; ``errors`` lists every reason by field."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


class IllegalTransition(ServiceError):
    pass


# --- templates -------------------------------------------------------------------------------------


def template_roots() -> list[Path]:
    roots = [Path(__file__).parent / "software_templates"]
    roots += [Path(p) for p in getattr(settings, "SCAFFOLDER_TEMPLATE_DIRS", []) if p]
    return roots


@dataclass(frozen=True)
class LoadResult:
    name: str
    status: str  # "published", "unchanged", "refused"
    message: str = ""


def templates_reload(*, actor) -> list[LoadResult]:
    """Load every template folder; a refused one keeps its last good version (and shows the reason)."""
    if actor is not None and not permissions.can_reload_templates(actor):
        raise PermissionDenied("Only Platform Admins reload software templates.")
    results = []
    for root in template_roots():
        for directory in sandbox.template_directories(root):
            results.append(_load_one(directory, actor=actor))
    for source in template_repositories():
        results.append(_load_from_git(source, actor=actor))
    return results


def template_repositories() -> list[dict]:
    """``SCAFFOLDER_TEMPLATE_REPOSITORIES``: [{"url", "ref", "path", "name"}] (JSON in the environment)."""
    raw = getattr(settings, "SCAFFOLDER_TEMPLATE_REPOSITORIES", "") or ""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        logger.error("SCAFFOLDER_TEMPLATE_REPOSITORIES is not valid JSON; no template is read from Git.")
        return []
    return [i for i in items if isinstance(i, dict) and i.get("url")] if isinstance(items, list) else []


def _load_from_git(source: dict, *, actor) -> LoadResult:
    from scaffolder import git_source

    label = f"{source['url']}@{source.get('ref') or 'HEAD'}:{source.get('path', '')}"
    name = str(source.get("name") or str(source.get("path") or "").strip("/").rsplit("/", 1)[-1] or "template")
    with tempfile.TemporaryDirectory(prefix="bridge-template-") as work:
        try:
            folder = git_source.fetch_template(
                source["url"], str(source.get("ref") or "HEAD"), str(source.get("path") or ""), Path(work)
            )
        except sandbox.TemplateRefused as exc:
            return _refused(name, label, str(exc), actor=actor)
        return _load_one(folder, actor=actor, name=name, source=label)


def _refused(name: str, source: str, reason: str, *, actor) -> LoadResult:
    now = timezone.now()
    name = name[:63]
    SoftwareTemplate.objects.filter(name=name).update(last_load_error=reason, loaded_at=now)
    if not SoftwareTemplate.objects.filter(name=name).exists():
        SoftwareTemplate.objects.create(
            name=name, title=name, source_path=source, is_active=False, last_load_error=reason, loaded_at=now, digest=""
        )
    audit_record(actor=actor, action="scaffolder.template.refused", changes={"name": name, "reason": reason})
    return LoadResult(name, "refused", reason)


def _load_one(directory: Path, *, actor, name: str = "", source: str = "") -> LoadResult:
    now = timezone.now()
    try:
        loaded = sandbox.load_template(directory)
    except sandbox.TemplateRefused as exc:
        return _refused(name or directory.name, source or str(directory), str(exc), actor=actor)
    if source:
        loaded.source = source
    d = loaded.descriptor
    fields = {
        "title": d["title"],
        "description": d.get("description", ""),
        "owner": d.get("owner", ""),
        "tags": d.get("tags", []),
        "descriptor": d,
        "files": loaded.files,
        "digest": loaded.digest,
        "source_path": loaded.source,
        "is_active": True,
        "last_load_error": "",
        "loaded_at": now,
    }
    existing = SoftwareTemplate.objects.filter(name=loaded.name).first()
    if existing is not None and existing.digest == loaded.digest and existing.is_active:
        SoftwareTemplate.objects.filter(pk=existing.pk).update(loaded_at=now, last_load_error="")
        return LoadResult(loaded.name, "unchanged")
    template, _ = SoftwareTemplate.objects.update_or_create(name=loaded.name, defaults=fields)
    audit_record(actor=actor, action="scaffolder.template.publish", obj=template, changes={"digest": loaded.digest})
    return LoadResult(loaded.name, "published")


# --- where the repository goes ----------------------------------------------------------------------


def destinations() -> list[tuple[str, str]]:
    """(value, label) of every place a new repository can go."""
    found = []
    for integration in all_integrations():
        if integration.type in ("github", "gitlab"):
            label = {"github": "GitHub", "gitlab": "GitLab"}[integration.type]
            found.append((f"{integration.type}:{integration.host}", f"New repository on {label} ({integration.host})"))
    if repositories.local_root() is not None:
        found.append(("local", "New repository in the portal's local Git folder"))
    found.append(("existing", "An existing empty Git repository (give its URL)"))
    return found


def _target(destination: str, *, name: str, owner: str, url: str, visibility: str, description: str, branch: str):
    """(the target dict, errors by field)."""
    errors: dict[str, list[str]] = {}
    kind, _, host = (destination or "").partition(":")
    target = {"kind": kind, "branch": branch, "visibility": visibility, "description": description[:350]}
    if destination not in {value for value, _label in destinations()}:
        errors["destination"] = ["Choose where the repository goes from the list."]
        return target, errors
    if kind in ("github", "gitlab"):
        integration = integration_for_host(host)
        if not owner or not OWNER_RE.match(owner) or ".." in owner:
            errors["repository_owner"] = ["Give the organisation (GitHub) or group path (GitLab) to create it in."]
        elif kind == "github" and "/" in owner:
            errors["repository_owner"] = ["A GitHub organisation is one name, without '/'."]
        if visibility not in VISIBILITIES:
            errors["visibility"] = ["Choose private, internal or public."]
        base = integration.api_url if integration else ""
        scheme = "http" if base.startswith("http://") else "https"
        web = f"{scheme}://{host}/{owner}/{name}"
        target.update(host=host, owner=owner, slug=f"{owner}/{name}", web_url=web, clone_url=f"{web}.git")
    elif kind == "local":
        root = repositories.local_root()
        target.update(slug=name, clone_url=str(root / f"{name}.git"), web_url="")
    elif kind == "existing":
        from portal.githosts import providers

        try:
            repo = providers.repository_from_url((url or "").strip())
        except host_errors.GitHostError as exc:
            errors["repository_url"] = [str(exc)]
        else:
            target.update(
                host=repo.integration.host,
                slug=repo.slug,
                clone_url=repo.clone_url,
                web_url=repo.web_url if repo.integration.type != "git" else "",
                url=url.strip(),
            )
    return target, errors


# --- drafts (the preview) --------------------------------------------------------------------------


def _owner_choices(user) -> list[str]:
    teams = Entity.objects.filter(kind=Kind.GROUP) if is_platform_admin(user) else teams_of(user)
    return sorted(t.ref for t in teams.only("kind", "namespace", "name"))


def owner_choices(user) -> list[str]:
    return _owner_choices(user)


def _split_secrets(schema: dict, values: dict) -> tuple[dict, str]:
    secret = secret_parameter_names(schema)  # the environments' rule: writeOnly or format: password
    shown = {k: (SECRET_MASK if k in secret else v) for k, v in values.items()}
    hidden = {k: v for k, v in values.items() if k in secret}
    return shown, (crypto.encrypt(json.dumps(hidden), purpose=ENCRYPTION_PURPOSE) if hidden else "")


@sensitive_variables("parameters", "checked")
def run_check(
    *,
    user,
    template: SoftwareTemplate,
    name: str,
    owner: str,
    destination: str,
    parameters: dict,
    repository_owner: str = "",
    repository_url: str = "",
    visibility: str = "",
    description: str = "",
    with_environment: bool = False,
) -> tuple[dict, dict[str, list[str]]]:
    """Every value a run needs, checked; (the cleaned values, errors by field)."""
    if not permissions.can_create(user):
        raise PermissionDenied("Sign in to create from a template.")
    if not template.is_active:
        raise ServiceError("This template is not published; pick another one.")
    errors: dict[str, list[str]] = {}
    name = (name or "").strip() if isinstance(name, str) else ""
    if not NAME_RE.match(name):
        errors["name"] = ["Use 2 to 63 lower case letters, digits and hyphens, starting with a letter."]
    elif Entity.objects.filter(kind=Kind.COMPONENT, namespace="default", name=name).exists():
        errors["name"] = [f"The catalog has a component named {name} already; choose another name."]
    owner = (owner or "").strip() if isinstance(owner, str) else ""
    if owner not in _owner_choices(user):
        errors["owner"] = ["Pick one of your teams as the owner."]
    publish = template.descriptor.get("publish", {})
    checked_params, param_errors = parameters_check(template.parameters_schema, parameters)
    errors.update(param_errors)
    target, target_errors = _target(
        destination,
        name=name,
        owner=(repository_owner or "").strip(),
        url=repository_url or "",
        visibility=visibility or publish.get("visibility", "private"),
        description=description or str(checked_params.get("description", "")),
        branch=publish.get("defaultBranch", "main"),
    )
    errors.update(target_errors)
    environment = template.descriptor.get("steps", {}).get("environment")
    if with_environment and not environment:
        errors["with_environment"] = ["This template does not request environments."]
    target["with_environment"] = bool(with_environment and environment)
    return {"name": name, "owner": owner, "parameters": checked_params, "target": target}, errors


@sensitive_variables("parameters", "checked", "shown", "secrets")
def run_draft(*, user, template: SoftwareTemplate, **values) -> ScaffolderRun:
    """Check the values and keep them as a draft run whose preview the developer sees next."""
    checked, errors = run_check(user=user, template=template, **values)
    if not errors:
        try:
            preview_files(
                template=template,
                name=checked["name"],
                owner=checked["owner"],
                target=checked["target"],
                parameters=checked["parameters"],
                requester=user,
            )
        except sandbox.TemplateRefused as exc:
            errors["template"] = [str(exc)]
    if errors:
        raise RunInvalid(errors)
    shown, secrets = _split_secrets(template.parameters_schema, checked["parameters"])
    with transaction.atomic():
        run = ScaffolderRun.objects.create(
            template=template,
            template_digest=template.digest,
            requester=user,
            name=checked["name"],
            owner=checked["owner"],
            parameters=shown,
            secret_parameters=secrets,
            target=checked["target"],
        )
        audit_record(
            actor=user,
            action="scaffolder.run.draft",
            obj=run,
            changes={"template": template.name, "name": run.name, "parameters": shown, "target": run.target},
        )
    return run


def _requester_values(user) -> dict:
    return {
        "username": user.get_username(),
        "name": user.get_full_name() or user.get_username(),
        "email": user.email or f"{user.get_username()}@users.bridge.invalid",
    }


def _values(*, name, owner, target, parameters, requester) -> dict:
    return {
        **parameters,
        "name": name,
        "package": name.replace("-", "_"),
        "owner": owner,
        "repository_url": target.get("web_url") or target.get("clone_url", ""),
        "repository_slug": target.get("slug", ""),
        "requester": _requester_values(requester),
    }


def preview_files(*, template, name, owner, target, parameters, requester) -> dict[str, bytes]:
    """The rendered files with secret values masked: what the preview (and a dry run) shows."""
    secret = secret_parameter_names(template.parameters_schema)
    masked = {k: (SECRET_MASK if k in secret else v) for k, v in parameters.items()}
    values = _values(name=name, owner=owner, target=target, parameters=masked, requester=requester)
    return sandbox.render_isolated(template.files, values, suffix=template.descriptor.get("_suffix", ".jinja"))


def run_preview(run: ScaffolderRun) -> dict[str, bytes]:
    return preview_files(
        template=run.template,
        name=run.name,
        owner=run.owner,
        target=run.target,
        parameters=run.parameters,
        requester=run.requester,
    )


def _run_secrets(run: ScaffolderRun) -> dict:
    if not run.secret_parameters:
        return {}
    clear = crypto.decrypt(run.secret_parameters, purpose=ENCRYPTION_PURPOSE)
    if clear is None:
        raise repositories.PublishError("The run's secret values cannot be decrypted: the encryption key changed.")
    return json.loads(clear)


@sensitive_variables("secrets", "values")
def _render_for_run(run: ScaffolderRun) -> dict[str, bytes]:
    secrets = _run_secrets(run)
    values = _values(
        name=run.name,
        owner=run.owner,
        target=run.target,
        parameters={**run.parameters, **secrets},
        requester=run.requester,
    )
    return sandbox.render_isolated(run.template.files, values, suffix=run.template.descriptor.get("_suffix", ".jinja"))


def file_tree(files: dict[str, bytes]) -> list[dict]:
    """Sorted [{path, size, text}] (text None for binary files)."""
    tree = []
    for path in sorted(files):
        data = files[path]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        tree.append({"path": path, "size": len(data), "text": text})
    return tree


# --- transitions -----------------------------------------------------------------------------------


def _lock(run_id: int) -> ScaffolderRun:
    run = ScaffolderRun.objects.select_for_update().select_related("template", "requester").filter(pk=run_id).first()
    if run is None:
        raise ServiceError("No such run.")
    return run


def _steps_for(run: ScaffolderRun) -> list[str]:
    keys = ["render", "repository", "push", "register"]
    steps = run.template.descriptor.get("steps", {})
    if steps.get("docs"):
        keys.append("docs")
    if steps.get("environment") and run.target.get("with_environment"):
        keys.append("environment")
    return keys


def _enqueue(run_id: int) -> None:
    from scaffolder.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run_id))


def run_confirm(*, user, run_id: int) -> ScaffolderRun:
    """Create it: the draft goes to its approvers, or straight to the worker."""
    with transaction.atomic():
        run = _lock(run_id)
        if not permissions.can_confirm(user, run):
            raise PermissionDenied("Only the person who previewed this run can create it.")
        if run.state != RunState.DRAFT:
            raise IllegalTransition(f"This run is {run.get_state_display().lower()} already.")
        if run.template_digest != run.template.digest or not run.template.is_active:
            raise IllegalTransition("The template changed since this preview; preview it again.")
        RunStep.objects.bulk_create(
            [RunStep(run=run, key=key, title=STEP_TITLES[key], position=i) for i, key in enumerate(_steps_for(run))]
        )
        policy = run.template.approval
        if policy["policy"] == "auto":
            run.state = RunState.QUEUED
            _enqueue(run.pk)
        else:
            run.state = RunState.PENDING_APPROVAL
            _notify_approvers(run)
        run.save(update_fields=["state", "updated_at"])
        audit_record(actor=user, action="scaffolder.run.create", obj=run, changes={"state": run.state})
    return run


def _run_url(run) -> str:
    from django.urls import reverse

    return reverse("scaffolder:run", args=[run.pk])


def _notify_approvers(run) -> None:
    from django.contrib.auth import get_user_model

    group = run.template.approval["group"]
    users = get_user_model().objects.filter(groups__name=group, is_active=True).exclude(pk=run.requester_id)
    # The portal has no notification events of Create's own yet: approvals and outcomes use the
    # environments' ones, so the same preferences govern them.
    notify(
        users=list(users),
        event=NotificationEvent.APPROVAL_NEEDED,
        title=f"Approve {run.name} from {run.template.title}",
        body=f"{run.requester.get_username()} wants to create {run.name}.",
        url=_run_url(run),
    )


def run_approve(*, user, run_id: int, comment: str = "") -> ScaffolderRun:
    with transaction.atomic():
        run = _lock(run_id)
        if run.requester_id == user.pk:
            raise PermissionDenied("You cannot approve your own run; another member of the group must.")
        if not permissions.can_approve(user, run):
            raise PermissionDenied(f"Only members of {run.template.approval['group']} approve this template's runs.")
        if run.state != RunState.PENDING_APPROVAL:
            raise IllegalTransition(f"This run is {run.get_state_display().lower()}; there is nothing to approve.")
        if RunApproval.objects.filter(run=run, approver=user).exists():
            raise IllegalTransition("You approved this run already; another member must approve it too.")
        RunApproval.objects.create(run=run, approver=user, comment=(comment or "")[:2000])
        audit_record(actor=user, action="scaffolder.run.approve", obj=run, changes={"comment": comment[:200]})
        if RunApproval.objects.filter(run=run).count() >= run.template.approval["count"]:
            run.state = RunState.QUEUED
            run.save(update_fields=["state", "updated_at"])
            _enqueue(run.pk)
    return run


def run_reject(*, user, run_id: int, comment: str) -> ScaffolderRun:
    if not (comment or "").strip():
        raise RunInvalid({"comment": ["Say why, so the requester can fix it."]})
    with transaction.atomic():
        run = _lock(run_id)
        if not permissions.can_approve(user, run):
            raise PermissionDenied("Only the template's approvers reject its runs (never the requester).")
        if run.state != RunState.PENDING_APPROVAL:
            raise IllegalTransition(f"This run is {run.get_state_display().lower()}; there is nothing to reject.")
        run.state, run.error, run.finished_at = RunState.REJECTED, f"Rejected: {comment.strip()[:2000]}", timezone.now()
        run.save(update_fields=["state", "error", "finished_at", "updated_at"])
        audit_record(actor=user, action="scaffolder.run.reject", obj=run, changes={"comment": comment[:200]})
        notify(
            users=[run.requester],
            event=NotificationEvent.APPROVAL_DECIDED,
            title=f"{run.name} was rejected",
            body=comment[:500],
            url=_run_url(run),
        )
    return run


def run_retry(*, user, run_id: int) -> ScaffolderRun:
    """Start a failed run again from its failed step (the done steps are not repeated)."""
    with transaction.atomic():
        run = _lock(run_id)
        if not permissions.can_operate(user, run):
            raise PermissionDenied("Only the requester, the owning team or a Platform Admin retries a run.")
        if run.state != RunState.FAILED:
            raise IllegalTransition("Only a failed run can be retried.")
        run.steps.filter(state__in=[StepState.FAILED, StepState.RUNNING]).update(state=StepState.PENDING, message="")
        run.state, run.error, run.finished_at = RunState.QUEUED, "", None
        run.save(update_fields=["state", "error", "finished_at", "updated_at"])
        RunLogLine.objects.create(run=run, text=f"Retried by {user.get_username()}.")
        audit_record(actor=user, action="scaffolder.run.retry", obj=run)
        _enqueue(run.pk)
    return run


def run_cleanup(*, user, run_id: int) -> list[str]:
    """Remove what a failed run created (its docs space, catalog location or entry, repository); returns
    what was removed."""
    with transaction.atomic():
        run = _lock(run_id)
        if not permissions.can_operate(user, run):
            raise PermissionDenied("Only the requester, the owning team or a Platform Admin cleans up a run.")
        if run.state != RunState.FAILED:
            raise IllegalTransition("Only a failed run is cleaned up; a successful one is yours to keep.")
        outputs = dict(run.outputs)
    removed = []
    if outputs.get("docs_space"):
        spaces = extensions.docs_spaces()
        if spaces is None:
            raise ServiceError("The knowledge base is not installed; its docs space cannot be removed from here.")
        spaces.delete(actor=user, key=outputs["docs_space"]["key"])
        removed.append(f"docs space {outputs.pop('docs_space')['key']}")
    if outputs.get("location_id"):
        from catalog.models import CatalogLocation
        from catalog.services import location_remove

        location = CatalogLocation.objects.filter(pk=outputs["location_id"]).first()
        if location is not None:
            location_remove(actor=None, location=location)
        removed.append(f"catalog location {outputs['location_id']}")
        outputs.pop("location_id")
    if outputs.get("imported"):
        from catalog.services import catalog_import_text

        catalog_import_text(text="", name=outputs["imported"])  # its entities are orphaned, as a location's
        removed.append(f"catalog entry {outputs.pop('entity_ref', outputs['imported'])}")
        outputs.pop("imported")
    repo = outputs.get("repository") or {}
    if repo.get("created"):
        kind = run.target.get("kind")
        try:
            if kind == "local":
                repositories.delete_local(repo["clone_url"])
            elif kind in ("github", "gitlab"):
                integration = integration_for_host(run.target["host"])
                if integration is None:
                    raise repositories.PublishError(f"{run.target['host']} has no integration any more.")
                (repositories.delete_github if kind == "github" else repositories.delete_gitlab)(
                    integration, repo["slug"]
                )
        except repositories.PublishError as exc:
            raise ServiceError(f"Could not delete {repo['slug']}: {exc}") from None
        removed.append(f"repository {repo['slug']}")
        outputs.pop("repository")
    with transaction.atomic():
        run = _lock(run_id)
        run.outputs = outputs
        run.state = RunState.CANCELED
        run.save(update_fields=["outputs", "state", "updated_at"])
        RunLogLine.objects.create(run=run, text="Cleaned up: " + (", ".join(removed) or "nothing was created"))
        audit_record(actor=user, action="scaffolder.run.cleanup", obj=run, changes={"removed": removed})
    return removed


# --- execution (the worker) ------------------------------------------------------------------------


class _Log:
    def __init__(self, run: ScaffolderRun, secrets: list[str]):
        self.run = run
        self.step = ""
        self.secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def __call__(self, text: str) -> None:
        for secret in self.secrets:
            text = text.replace(secret, SECRET_MASK)
        RunLogLine.objects.create(run=self.run, step=self.step, text=text[:5000])


def run_execute(run_id: int) -> str:
    """Claim a queued run and do its steps in order, skipping those done; the task calls this."""
    from datetime import timedelta

    from django.db.models import Q

    now = timezone.now()
    # A run left "running" longer than the task's hard time limit lost its worker: the message comes
    # back (late acknowledgement) and the run resumes; its steps are idempotent.
    stale = now - timedelta(seconds=STALE_RUNNING_SECONDS)
    claimed = (
        ScaffolderRun.objects.filter(pk=run_id)
        .filter(Q(state=RunState.QUEUED) | Q(state=RunState.RUNNING, updated_at__lt=stale))
        .update(state=RunState.RUNNING, started_at=now, updated_at=now)
    )
    if not claimed:
        return "not queued"
    run = ScaffolderRun.objects.select_related("template", "requester").get(pk=run_id)
    try:
        secrets = [str(v) for v in _run_secrets(run).values()]
    except repositories.PublishError:
        secrets = []
    log = _Log(run, secrets)
    for step in run.steps.order_by("position"):
        if step.state in (StepState.SUCCEEDED, StepState.SKIPPED):
            continue
        log.step = step.key
        RunStep.objects.filter(pk=step.pk).update(state=StepState.RUNNING, started_at=timezone.now())
        ScaffolderRun.objects.filter(pk=run.pk).update(updated_at=timezone.now())
        log(f"▶ {step.title}")
        try:
            message, skipped = STEPS[step.key](run, log)
        except (repositories.PublishError, sandbox.TemplateRefused, ServiceError, host_errors.GitHostError) as exc:
            return _fail(run, step, log, str(exc))
        except Exception as exc:  # noqa: BLE001 - the run records it; the traceback goes to the worker's log
            logger.exception("scaffolder run %s, step %s", run.pk, step.key)
            return _fail(run, step, log, f"Unexpected error ({exc.__class__.__name__}); the worker's log has details.")
        state = StepState.SKIPPED if skipped else StepState.SUCCEEDED
        RunStep.objects.filter(pk=step.pk).update(state=state, message=message[:2000], finished_at=timezone.now())
        log(f"✓ {message}")
        ScaffolderRun.objects.filter(pk=run.pk).update(outputs=run.outputs, updated_at=timezone.now())
    ScaffolderRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED, finished_at=timezone.now())
    entity = run.outputs.get("entity_url", "")
    notify(
        users=[run.requester],
        event=NotificationEvent.ENVIRONMENT_READY,
        title=f"{run.name} is ready",
        body=f"Created from {run.template.title}.",
        url=entity or _run_url(run),
    )
    return "succeeded"


def _fail(run, step, log, message: str) -> str:
    now = timezone.now()
    RunStep.objects.filter(pk=step.pk).update(state=StepState.FAILED, message=message[:2000], finished_at=now)
    log(f"✗ {message}")
    made = _created_summary(run.outputs)
    error = f"{step.title} failed: {message}" + (f" Bridge created: {made}." if made else " Nothing was created.")
    ScaffolderRun.objects.filter(pk=run.pk).update(
        state=RunState.FAILED, error=error[:4000], outputs=run.outputs, finished_at=now, updated_at=now
    )
    notify(
        users=[run.requester],
        event=NotificationEvent.ENVIRONMENT_FAILED,
        title=f"Creating {run.name} failed",
        body=error[:500],
        url=_run_url(run),
    )
    return "failed"


def _created_summary(outputs: dict) -> str:
    parts = []
    repo = outputs.get("repository") or {}
    if repo.get("created"):
        parts.append(f"the repository {repo.get('slug')}")
    if outputs.get("commit"):
        parts.append(f"commit {outputs['commit'][:12]}")
    if outputs.get("location_id"):
        parts.append(f"catalog location {outputs['location_id']}")
    if outputs.get("imported"):
        parts.append("its catalog entry")
    if outputs.get("docs_space"):
        parts.append(f"the docs space {outputs['docs_space']['key']}")
    if outputs.get("environment_request_id"):
        parts.append(f"environment request {outputs['environment_request_id']}")
    return ", ".join(parts)


def _step_render(run, log):
    files = _render_for_run(run)
    log(f"{len(files)} files, {sum(len(d) for d in files.values()):,} bytes")
    run.outputs["files"] = len(files)
    return f"Rendered {len(files)} files.", False


def _step_repository(run, log):
    if run.outputs.get("repository"):
        return f"{run.outputs['repository']['slug']} is there already.", False
    target, kind = run.target, run.target.get("kind")
    if kind == "existing":
        from portal.githosts.git import RemoteRepository

        refs = RemoteRepository(target["clone_url"]).refs()
        if any(name.startswith("refs/heads/") for name in refs):
            raise repositories.PublishError(
                f"{target['slug']} is not empty; Bridge only pushes to an empty repository."
            )
        created = repositories.Created(target["slug"], target["clone_url"], target.get("web_url", ""), False)
    elif kind == "local":
        created = repositories.create_local(run.name, branch=target.get("branch", "main"))
    elif kind in ("github", "gitlab"):
        integration = integration_for_host(target["host"])
        if integration is None:
            raise repositories.PublishError(f"{target['host']} has no Git integration any more.")
        log(f"Creating {target['slug']} on {target['host']} ({target['visibility']})")
        if kind == "github":
            created = repositories.create_github(
                integration,
                owner=target["owner"],
                name=run.name,
                description=target["description"],
                visibility=target["visibility"],
            )
        else:
            created = repositories.create_gitlab(
                integration,
                owner=target["owner"],
                name=run.name,
                description=target["description"],
                visibility=target["visibility"],
                default_branch=target["branch"],
            )
    else:
        raise repositories.PublishError(f"Unknown destination {kind!r}.")
    run.outputs["repository"] = {
        "slug": created.slug,
        "clone_url": created.clone_url,
        "web_url": created.web_url,
        "created": created.created,
    }
    ScaffolderRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
    verb = "Created" if created.created else "Using the empty repository"
    return f"{verb} {created.slug}.", False


def _step_push(run, log):
    repo = run.outputs["repository"]
    files = _render_for_run(run)
    author = repositories.Person(**{k: v for k, v in _requester_values(run.requester).items() if k != "username"})
    committer = repositories.Person(
        getattr(settings, "SCAFFOLDER_COMMITTER_NAME", "Bridge"),
        getattr(settings, "SCAFFOLDER_COMMITTER_EMAIL", "bridge@portal.invalid"),
    )
    branch = run.target.get("branch", "main")
    with tempfile.TemporaryDirectory(prefix="bridge-scaffold-") as work:
        sha = repositories.commit_files(
            Path(work) / "repo",
            files,
            branch=branch,
            author=author,
            committer=committer,
            date=run.created_at.isoformat(),
            message=f"Create {run.name} from {run.template.title}\n\nBridge run {run.pk}.",
        )
        pushed = repositories.push(
            Path(work) / "repo",
            clone_url=repo["clone_url"],
            branch=branch,
            sha=sha,
            local=run.target.get("kind") == "local",
        )
    run.outputs["commit"] = sha
    log(f"{'Pushed' if pushed else 'Already pushed:'} {sha[:12]} to {branch} (author {author}, committer {committer})")
    return f"Pushed {sha[:12]} to {branch}.", False


def _catalog_ref(files: dict[str, bytes]) -> tuple[str, str, str] | None:
    data = files.get("catalog-info.yaml")
    if data is None:
        return None
    try:
        doc = next(iter(safe_yaml.load_all(data.decode("utf-8"), name="catalog-info.yaml")))
        return doc["kind"], doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
    except Exception:  # noqa: BLE001
        return None


def _step_register(run, log):
    from catalog import services as catalog_services
    from catalog.models import CatalogLocation

    files = _render_for_run(run)
    ref = _catalog_ref(files)
    if ref is None:
        return "The template has no catalog-info.yaml; nothing to register.", True
    repo = run.outputs["repository"]
    branch = run.target.get("branch", "main")
    if run.target.get("kind") == "local":
        result = catalog_services.catalog_import_text(text=files["catalog-info.yaml"], name=f"scaffolder-{run.name}")
        run.outputs["imported"] = f"scaffolder-{run.name}"
        ScaffolderRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
        if result.problems:
            raise repositories.PublishError("The catalog refused catalog-info.yaml: " + str(result.problems[0])[:300])
        log(f"Imported catalog-info.yaml: {result.summary()}")
    else:
        location = CatalogLocation.objects.filter(pk=run.outputs.get("location_id")).first()
        if location is None:
            location, outcome = catalog_services.location_add(
                actor=None, repository=repo["clone_url"], ref=branch, path="catalog-info.yaml"
            )
            run.outputs["location_id"] = location.pk
            ScaffolderRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
        else:
            outcome = catalog_services.location_refresh(location=location)
        log(f"Catalog location {location.pk}: {outcome.summary() if outcome else 'registered'}")
        if outcome is not None and outcome.status == "error":
            raise repositories.PublishError(f"The catalog could not read the new repository: {outcome.error}")
    kind, namespace, name = ref
    entity = entity_by_parts(kind, namespace, name)
    if entity is None:
        raise repositories.PublishError(f"{kind}:{namespace}/{name} is not in the catalog after registration.")
    run.outputs["entity_ref"] = entity.ref
    run.outputs["entity_url"] = entity.get_absolute_url()
    audit_record(actor=run.requester, action="scaffolder.run.register", obj=run, changes={"entity": entity.ref})
    return f"Registered {entity.ref}.", False


def _docs_project(files: dict[str, bytes]) -> dict[str, bytes]:
    """The rendered mkdocs project (``mkdocs.yml`` and ``docs/``), empty when the template has none."""
    if "mkdocs.yml" not in files or not any(p.startswith("docs/") for p in files):
        return {}
    return {p: data for p, data in files.items() if p == "mkdocs.yml" or p.startswith("docs/")}


def _step_docs(run, log):
    project = _docs_project(_render_for_run(run))
    if not project:
        return "The template has no mkdocs.yml and docs/ folder; no docs space.", True
    spaces = extensions.docs_spaces()
    if spaces is None:
        return "The knowledge base is not installed; the docs stay in the repository only.", True
    made = run.outputs.get("docs_space")
    if made and (space := spaces.find(made["key"])) is not None:
        return f"The docs space {space.name} is there already: {space.url}", False
    key = run.name[:60].rstrip("-")
    if spaces.find(key) is not None:
        raise ServiceError(
            f"The knowledge base has a space with the key {key} already, which this run did not create; "
            "rename or delete that space and retry."
        )
    space = spaces.create(
        actor=run.requester,
        key=key,
        name=run.name,
        owner=entity_by_ref(run.owner or ""),
        entity=entity_by_ref(run.outputs.get("entity_ref", "")),
        files=project,
    )
    run.outputs["docs_space"] = {"key": space.key, "url": space.url}
    ScaffolderRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
    audit_record(actor=run.requester, action="scaffolder.run.docs", obj=run, changes={"space": space.key})
    log(f"Knowledge space {space.key} owned by {run.owner}, {space.pages} pages from docs/: {space.url}")
    return f"Created the docs space {space.name} with {space.pages} pages: {space.url}", False


def _step_environment(run, log):
    from provisioning import selectors as provisioning_selectors
    from provisioning import services as provisioning_services

    if run.outputs.get("environment_request_id"):
        return f"Environment request {run.outputs['environment_request_id']} exists already.", False
    spec = run.template.descriptor["steps"]["environment"]
    template = provisioning_selectors.templates_published().filter(name=spec["template"]).first()
    if template is None:
        if spec.get("optional", True):
            return f"No environment template named {spec['template']} is published; skipped.", True
        raise repositories.PublishError(f"No environment template named {spec['template']} is published.")
    entity = Entity.objects.filter(
        pk__in=Entity.objects.filter(kind=Kind.COMPONENT, namespace="default", name=run.name).values("pk")
    ).first()
    team = entity_by_ref(run.owner or "")
    values = _values(name=run.name, owner=run.owner, target=run.target, parameters=run.parameters,
                     requester=run.requester)  # fmt: skip
    parameters = {
        key: sandbox.render_text(value, values) if isinstance(value, str) else value
        for key, value in (spec.get("parameters") or {}).items()
    }
    try:
        request = provisioning_services.request_submit(
            user=run.requester,
            template=template,
            entity=entity,
            team=team,
            name=f"{run.name}-preview"[:40].rstrip("-"),
            justification=f"First environment for {run.name}, created from the {run.template.title} template.",
            ttl_hours=spec.get("ttlHours"),
            parameters=parameters,
        )
    except provisioning_services.RequestInvalid as exc:
        raise repositories.PublishError(f"The environment request was refused: {exc}") from None
    run.outputs["environment_request_id"] = request.pk
    log(f"Environment request {request.pk} ({request.name}) submitted; it follows its own approval.")
    return f"Requested environment {request.name}.", False


STEPS = {
    "render": _step_render,
    "repository": _step_repository,
    "push": _step_push,
    "register": _step_register,
    "docs": _step_docs,
    "environment": _step_environment,
}
