"""Webhook payload parsers: provider JSON in, plain dataclasses out.

Adapters to the outside world: they import nothing from views or services.
A payload missing a field we need raises ``PayloadError`` (a clear 400);
an event we do not use comes back as ``Ignored`` (202, recorded as ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from pipelines.models import DeploymentStatus, Provider, RunStatus


class PayloadError(ValueError):
    """The payload is not what the provider documents; the message says which field."""


@dataclass(frozen=True)
class RepoInfo:
    provider: str
    slug: str
    url: str = ""
    default_branch: str = ""


@dataclass
class JobEvent:
    repo: RepoInfo
    pipeline_name: str
    run_id: str
    attempt: int
    job_id: str
    name: str
    status: str
    conclusion: str = ""
    stage: str = ""
    branch: str = ""
    commit_sha: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    url: str = ""
    steps: list[dict] = field(default_factory=list)


@dataclass
class RunEvent:
    repo: RepoInfo
    pipeline_name: str
    run_id: str
    attempt: int
    status: str
    created_at: datetime
    conclusion: str = ""
    number: int | None = None
    branch: str = ""
    commit_sha: str = ""
    commit_at: datetime | None = None
    event: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    url: str = ""
    actor: str = ""
    jobs: list[JobEvent] = field(default_factory=list)


@dataclass
class DeploymentEvent:
    repo: RepoInfo
    deployment_id: str
    environment: str
    status: str | None  # None: a status change that says nothing about the outcome (GitHub "inactive")
    created_at: datetime
    commit_sha: str = ""
    commit_at: datetime | None = None
    ref: str = ""
    finished_at: datetime | None = None
    url: str = ""
    actor: str = ""


@dataclass
class CommitsEvent:
    repo: RepoInfo
    commits: list[tuple[str, datetime]]
    ref: str = ""  # refs/heads/main
    after: str = ""
    paths: list[str] | None = None  # files added, changed or removed; None: the payload cannot tell
    clone_url: str = ""


@dataclass
class IncidentEvent:
    incident_id: str
    title: str
    started_at: datetime
    resolved_at: datetime | None = None
    entity_ref: str = ""
    repository: str = ""
    deployment_id: str = ""
    url: str = ""


@dataclass
class Ping:
    pass


@dataclass
class Ignored:
    reason: str


Parsed = RunEvent | JobEvent | DeploymentEvent | CommitsEvent | IncidentEvent | Ping | Ignored

# --- helpers ---------------------------------------------------------------------

_MISSING = object()


class _Scoped(dict):
    """A sub-object that remembers where it sits, so errors name the full path."""

    prefix = ""


def _get(data: Any, path: str, default: Any = _MISSING) -> Any:
    value = data
    full = getattr(data, "prefix", "") + path
    for part in path.split("."):
        if isinstance(value, dict) and part in value and value[part] is not None:
            value = value[part]
        else:
            if default is _MISSING:
                raise PayloadError(f"The payload has no “{full}” field.")
            return default
    if isinstance(value, dict):
        scoped = _Scoped(value)
        scoped.prefix = full + "."
        return scoped
    return value


def _str(data: Any, path: str, default: Any = _MISSING, limit: int = 255) -> str:
    value = _get(data, path, default)
    if isinstance(value, (dict, list)):
        raise PayloadError(f"“{path}” must be a string.")
    return str(value)[:limit] if value is not None else ""


def _url(data: Any, path: str) -> str:
    """A link shown on Bridge's pages: only http(s), never ``javascript:`` or the like."""
    value = _str(data, path, "", limit=500).strip()
    return value if value.lower().startswith(("https://", "http://")) else ""


def _int(data: Any, path: str, default: Any = _MISSING) -> int | None:
    value = _get(data, path, default)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PayloadError(f"“{path}” must be a whole number.") from None
    if number < 0 or number > 2**31:
        raise PayloadError(f"“{path}” is out of range.")
    return number


_GITLAB_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(UTC|[+-]\d{2}:?\d{2})?$")


def parse_time(value: Any, path: str = "time") -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"“{path}” must be a date and time.")
    text = value.strip()
    match = _GITLAB_TIME.match(text)
    if match:  # GitLab writes "2026-01-02 10:00:00 UTC" or "... +0100"
        zone = match.group(3) or "+00:00"
        zone = "+00:00" if zone == "UTC" else zone
        if ":" not in zone:
            zone = zone[:3] + ":" + zone[3:]
        text = f"{match.group(1)}T{match.group(2)}{zone}"
    try:
        parsed = parse_datetime(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError(f"“{path}” is not a date and time: {value[:40]!r}.")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _time(data: Any, path: str, default: Any = _MISSING) -> datetime | None:
    return parse_time(_get(data, path, default), path)


# --- GitHub ------------------------------------------------------------------------

GITHUB_EVENTS = {"workflow_run", "workflow_job", "deployment_status", "push", "ping"}


def _github_run_status(status: str, conclusion: str) -> str:
    if status == "completed":
        return {
            "success": RunStatus.SUCCESS,
            "cancelled": RunStatus.CANCELLED,
            "skipped": RunStatus.SKIPPED,
            "neutral": RunStatus.SKIPPED,
            "stale": RunStatus.SKIPPED,
        }.get(conclusion, RunStatus.FAILED)
    if status == "in_progress":
        return RunStatus.RUNNING
    return RunStatus.QUEUED


def _github_repo(payload: dict) -> RepoInfo:
    return RepoInfo(
        provider=Provider.GITHUB,
        slug=_str(payload, "repository.full_name"),
        url=_url(payload, "repository.html_url"),
        default_branch=_str(payload, "repository.default_branch", ""),
    )


def _github_job(payload: dict, repo: RepoInfo) -> JobEvent:
    job = _get(payload, "workflow_job")
    status = _str(job, "status")
    conclusion = _str(job, "conclusion", "")
    steps = []
    for step in _get(job, "steps", []) or []:
        if not isinstance(step, dict):
            raise PayloadError("“workflow_job.steps” must be a list of objects.")
        steps.append(
            {
                "number": _int(step, "number", None),
                "name": _str(step, "name", ""),
                "status": _github_run_status(_str(step, "status", ""), _str(step, "conclusion", "")),
                "started_at": _str(step, "started_at", ""),
                "finished_at": _str(step, "completed_at", ""),
            }
        )
    return JobEvent(
        repo=repo,
        pipeline_name=_str(job, "workflow_name", "") or "workflow",
        run_id=_str(job, "run_id"),
        attempt=_int(job, "run_attempt", 1) or 1,
        job_id=_str(job, "id"),
        name=_str(job, "name"),
        status=_github_run_status(status, conclusion),
        conclusion=conclusion,
        branch=_str(job, "head_branch", ""),
        commit_sha=_str(job, "head_sha", ""),
        created_at=_time(job, "created_at", None),
        started_at=_time(job, "started_at", None),
        finished_at=_time(job, "completed_at", None) if status == "completed" else None,
        url=_url(job, "html_url"),
        steps=steps,
    )


def parse_github(event: str, payload: dict) -> Parsed:
    if event == "ping":
        return Ping()
    if event not in GITHUB_EVENTS:
        return Ignored(f"GitHub event “{event}” is not used by Bridge.")
    repo = _github_repo(payload)
    if event == "workflow_run":
        run = _get(payload, "workflow_run")
        status = _str(run, "status")
        conclusion = _str(run, "conclusion", "")
        created = _time(run, "created_at")
        finished = _time(run, "updated_at", None) if status == "completed" else None
        return RunEvent(
            repo=repo,
            pipeline_name=_str(run, "name", "") or _str(run, "path", "workflow"),
            run_id=_str(run, "id"),
            attempt=_int(run, "run_attempt", 1) or 1,
            number=_int(run, "run_number", None),
            branch=_str(run, "head_branch", ""),
            commit_sha=_str(run, "head_sha", ""),
            commit_at=_time(run, "head_commit.timestamp", None),
            event=_str(run, "event", ""),
            status=_github_run_status(status, conclusion),
            conclusion=conclusion,
            created_at=created,
            started_at=_time(run, "run_started_at", None) or (created if status != "queued" else None),
            finished_at=finished,
            url=_url(run, "html_url"),
            actor=_str(run, "triggering_actor.login", "") or _str(run, "actor.login", ""),
        )
    if event == "workflow_job":
        return _github_job(payload, repo)
    if event == "deployment_status":
        status = _get(payload, "deployment_status")
        deployment = _get(payload, "deployment")
        state = _str(status, "state")
        mapped = {
            "queued": DeploymentStatus.PENDING,
            "pending": DeploymentStatus.PENDING,
            "in_progress": DeploymentStatus.RUNNING,
            "success": DeploymentStatus.SUCCESS,
            "failure": DeploymentStatus.FAILED,
            "error": DeploymentStatus.FAILED,
        }.get(state)
        changed = _time(status, "created_at")
        return DeploymentEvent(
            repo=repo,
            deployment_id=_str(deployment, "id"),
            environment=_str(status, "environment", "") or _str(deployment, "environment"),
            status=mapped,
            created_at=_time(deployment, "created_at"),
            commit_sha=_str(deployment, "sha", ""),
            ref=_str(deployment, "ref", ""),
            finished_at=changed if mapped in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED) else None,
            url=_url(status, "target_url") or _url(status, "log_url"),
            actor=_str(status, "creator.login", ""),
        )
    # push
    commits = []
    for commit in _get(payload, "commits", []) or []:
        if not isinstance(commit, dict):
            raise PayloadError("“commits” must be a list of objects.")
        commits.append((_str(commit, "id"), _time(commit, "timestamp")))
    head = payload.get("head_commit")
    if isinstance(head, dict) and head.get("id") and not any(sha == head["id"] for sha, _ in commits):
        commits.append((_str(head, "id"), _time(head, "timestamp")))
    # GitHub lists at most 20 commits (and 3,000 files): with 20 the push may hold more than it says.
    listed = _get(payload, "commits", []) or []
    return CommitsEvent(
        repo=repo,
        commits=commits,
        ref=_str(payload, "ref", ""),
        after=_str(payload, "after", ""),
        paths=_changed_paths(listed) if len(listed) < 20 else None,
        clone_url=_url(payload, "repository.clone_url"),
    )


def _changed_paths(commits: list) -> list[str]:
    paths: set[str] = set()
    for commit in commits:
        for key in ("added", "modified", "removed"):
            for path in commit.get(key) or []:
                if isinstance(path, str):
                    paths.add(path[:1000])
    return sorted(paths)


# --- GitLab ------------------------------------------------------------------------

GITLAB_EVENTS = {"Pipeline Hook", "Job Hook", "Deployment Hook", "Push Hook"}
GITLAB_PIPELINE_NAME = "GitLab CI"


def _gitlab_status(status: str) -> str:
    return {
        "running": RunStatus.RUNNING,
        "success": RunStatus.SUCCESS,
        "failed": RunStatus.FAILED,
        "canceled": RunStatus.CANCELLED,
        "canceling": RunStatus.CANCELLED,
        "skipped": RunStatus.SKIPPED,
    }.get(status, RunStatus.QUEUED)


def _gitlab_repo(payload: dict) -> RepoInfo:
    slug = _str(payload, "project.path_with_namespace", "")
    url = _url(payload, "project.web_url")
    if not slug:  # older Job Hooks carry only "repository.homepage"
        homepage = _str(payload, "repository.homepage")
        url = _url(payload, "repository.homepage")
        slug = re.sub(r"^https?://[^/]+/", "", homepage).strip("/")
        if not slug:
            raise PayloadError("The payload names no project (“project.path_with_namespace”).")
    return RepoInfo(
        provider=Provider.GITLAB, slug=slug, url=url, default_branch=_str(payload, "project.default_branch", "")
    )


def _gitlab_job_event(repo: RepoInfo, run_id: str, build: dict, branch: str, sha: str, prefix: str) -> JobEvent:
    status = _str(build, f"{prefix}status")
    return JobEvent(
        repo=repo,
        pipeline_name=GITLAB_PIPELINE_NAME,
        run_id=run_id,
        attempt=1,
        job_id=_str(build, "id" if not prefix else "build_id"),
        name=_str(build, f"{prefix}name"),
        stage=_str(build, f"{prefix}stage", ""),
        status=_gitlab_status(status),
        conclusion=status,
        branch=branch,
        commit_sha=sha,
        created_at=_time(build, f"{prefix}created_at", None),
        started_at=_time(build, f"{prefix}started_at", None),
        finished_at=_time(build, f"{prefix}finished_at", None),
        url=(repo.url.rstrip("/") + f"/-/jobs/{_str(build, 'id' if not prefix else 'build_id')}") if repo.url else "",
    )


def parse_gitlab(event: str, payload: dict) -> Parsed:
    if event not in GITLAB_EVENTS:
        return Ignored(f"GitLab event “{event}” is not used by Bridge.")
    repo = _gitlab_repo(payload)
    if event == "Pipeline Hook":
        attrs = _get(payload, "object_attributes")
        status = _str(attrs, "status")
        run_id = _str(attrs, "id")
        branch = _str(attrs, "ref", "")
        sha = _str(attrs, "sha", "")
        jobs = []
        for build in _get(payload, "builds", []) or []:
            if not isinstance(build, dict):
                raise PayloadError("“builds” must be a list of objects.")
            jobs.append(_gitlab_job_event(repo, run_id, build, branch, sha, ""))
        created = _time(attrs, "created_at")
        started = min((job.started_at for job in jobs if job.started_at), default=None)
        return RunEvent(
            repo=repo,
            pipeline_name=GITLAB_PIPELINE_NAME,
            run_id=run_id,
            attempt=1,
            number=_int(attrs, "iid", None),
            branch=branch,
            commit_sha=sha,
            commit_at=_time(payload, "commit.timestamp", None),
            event=_str(attrs, "source", ""),
            status=_gitlab_status(status),
            conclusion=status,
            created_at=created,
            started_at=started or (created if status not in ("created", "pending") else None),
            finished_at=_time(attrs, "finished_at", None),
            url=_url(attrs, "url"),
            actor=_str(payload, "user.username", ""),
            jobs=jobs,
        )
    if event == "Push Hook":
        listed = _get(payload, "commits", []) or []
        if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
            raise PayloadError("“commits” must be a list of objects.")
        total = _int(payload, "total_commits_count", len(listed)) or 0
        return CommitsEvent(
            repo=repo,
            commits=[(_str(c, "id"), _time(c, "timestamp")) for c in listed],
            ref=_str(payload, "ref", ""),
            after=_str(payload, "after", ""),
            paths=_changed_paths(listed) if total <= len(listed) else None,
            clone_url=_url(payload, "project.git_http_url"),
        )
    if event == "Job Hook":
        return _gitlab_job_event(
            repo,
            _str(payload, "pipeline_id"),
            payload,
            _str(payload, "ref", ""),
            _str(payload, "sha", ""),
            "build_",
        )
    # Deployment Hook
    status = _str(payload, "status")
    mapped = {
        "created": DeploymentStatus.PENDING,
        "blocked": DeploymentStatus.PENDING,
        "running": DeploymentStatus.RUNNING,
        "success": DeploymentStatus.SUCCESS,
        "failed": DeploymentStatus.FAILED,
        "canceled": DeploymentStatus.CANCELLED,
    }.get(status)
    if mapped is None:
        raise PayloadError(f"Unknown deployment status “{status[:40]}”.")
    changed = _time(payload, "status_changed_at")
    commit_url = _url(payload, "commit_url")
    sha = commit_url.rstrip("/").rsplit("/", 1)[-1] if "/commit/" in commit_url else _str(payload, "short_sha", "")
    return DeploymentEvent(
        repo=repo,
        deployment_id=_str(payload, "deployment_id"),
        environment=_str(payload, "environment"),
        status=mapped,
        created_at=changed,
        commit_sha=sha,
        ref=_str(payload, "ref", ""),
        finished_at=changed if mapped in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED) else None,
        url=_url(payload, "environment_external_url"),
        actor=_str(payload, "user.username", ""),
    )


# --- generic -----------------------------------------------------------------------

GENERIC_TYPES = {"run", "deployment", "incident"}


def _choice(data: dict, path: str, choices, default: Any = _MISSING) -> str:
    value = _str(data, path, default)
    if value not in set(choices):
        raise PayloadError(f"“{path}” must be one of: {', '.join(sorted(str(c) for c in choices))}.")
    return value


def _generic_repo(payload: dict) -> RepoInfo:
    return RepoInfo(
        provider=Provider.GENERIC,
        slug=_str(payload, "repository"),
        url=_url(payload, "repository_url"),
        default_branch=_str(payload, "default_branch", ""),
    )


def parse_generic(payload: dict) -> Parsed:
    kind = _str(payload, "type")
    if kind not in GENERIC_TYPES:
        return Ignored(f"Event type “{kind[:40]}” is not one Bridge knows (run, deployment, incident).")
    if kind == "incident":
        return IncidentEvent(
            incident_id=_str(payload, "incident_id"),
            title=_str(payload, "title", limit=300),
            started_at=_time(payload, "started_at"),
            resolved_at=_time(payload, "resolved_at", None),
            entity_ref=_str(payload, "entity", ""),
            repository=_str(payload, "repository", ""),
            deployment_id=_str(payload, "deployment_id", ""),
            url=_url(payload, "url"),
        )
    repo = _generic_repo(payload)
    if kind == "deployment":
        status = _choice(payload, "status", DeploymentStatus.values)
        return DeploymentEvent(
            repo=repo,
            deployment_id=_str(payload, "deployment_id"),
            environment=_str(payload, "environment"),
            status=status,
            created_at=_time(payload, "created_at"),
            commit_sha=_str(payload, "commit", ""),
            commit_at=_time(payload, "commit_at", None),
            ref=_str(payload, "ref", ""),
            finished_at=_time(payload, "finished_at", None),
            url=_url(payload, "url"),
            actor=_str(payload, "actor", ""),
        )
    run_id = _str(payload, "run_id")
    branch = _str(payload, "branch", "")
    sha = _str(payload, "commit", "")
    jobs = []
    for job in _get(payload, "jobs", []) or []:
        if not isinstance(job, dict):
            raise PayloadError("“jobs” must be a list of objects.")
        steps = []
        for step in _get(job, "steps", []) or []:
            if not isinstance(step, dict):
                raise PayloadError("“jobs[].steps” must be a list of objects.")
            steps.append(
                {
                    "name": _str(step, "name"),
                    "status": _choice(step, "status", RunStatus.values),
                    "started_at": _str(step, "started_at", ""),
                    "finished_at": _str(step, "finished_at", ""),
                }
            )
        jobs.append(
            JobEvent(
                repo=repo,
                pipeline_name=_str(payload, "pipeline"),
                run_id=run_id,
                attempt=_int(payload, "attempt", 1) or 1,
                job_id=_str(job, "id"),
                name=_str(job, "name"),
                stage=_str(job, "stage", ""),
                status=_choice(job, "status", RunStatus.values),
                branch=branch,
                commit_sha=sha,
                started_at=_time(job, "started_at", None),
                finished_at=_time(job, "finished_at", None),
                url=_url(job, "url"),
                steps=steps,
            )
        )
    return RunEvent(
        repo=repo,
        pipeline_name=_str(payload, "pipeline"),
        run_id=run_id,
        attempt=_int(payload, "attempt", 1) or 1,
        number=_int(payload, "number", None),
        branch=branch,
        commit_sha=sha,
        commit_at=_time(payload, "commit_at", None),
        event=_str(payload, "event", ""),
        status=_choice(payload, "status", RunStatus.values),
        created_at=_time(payload, "created_at"),
        started_at=_time(payload, "started_at", None),
        finished_at=_time(payload, "finished_at", None),
        url=_url(payload, "url"),
        actor=_str(payload, "actor", ""),
        jobs=jobs,
    )


def parse(provider: str, event: str, payload: Any) -> Parsed:
    if not isinstance(payload, dict):
        raise PayloadError("The body must be a JSON object.")
    if provider == Provider.GITHUB:
        return parse_github(event, payload)
    if provider == Provider.GITLAB:
        return parse_gitlab(event, payload)
    return parse_generic(payload)
