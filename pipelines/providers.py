"""Webhook payload parsers: provider JSON in, plain dataclasses out.

Adapters to the outside world: they import nothing from views or services.
A payload missing a field we need raises ``PayloadError`` (a clear 400);
an event we do not use comes back as ``Ignored`` (202, recorded as ignored).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from pipelines.models import BRANCH_MAX_BYTES, DeploymentStatus, Provider, RunStatus, status_rank


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
    duration_seconds: int | None = None  # the CI's own figure, when it sends one
    url: str = ""
    steps: list[dict] = field(default_factory=list)
    run_url: str = ""  # a link to the run, for runs known only from their jobs
    run_name: str = ""  # the CI's name of the run (GitLab's pipeline name)
    title: str = ""
    actor: str = ""
    event: str = ""


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
    duration_seconds: int | None = None  # the CI's own figure (GitLab's excludes the idle time of retries)
    url: str = ""
    actor: str = ""
    name: str = ""  # the CI's name of this run (GitLab's pipeline name)
    title: str = ""  # the commit's or pull request's title
    jobs: list[JobEvent] = field(default_factory=list)
    # The CI's time of this state. With ``restartable`` (GitLab pipelines, check suites, commit statuses:
    # a retry keeps the run's id), a newer state replaces an older one even if it is less far along.
    state_at: datetime | None = None
    restartable: bool = False
    quiet: bool = False  # history read by a backfill: no "default branch failed" notification for old runs


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
    status_at: datetime | None = None  # when the provider set this status; orders statuses of equal rank


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
    # Called for every field of every job's steps (a backfill parses millions): the full path is only built
    # when it is needed, for a message or a sub-object.
    value = data
    for part in path.split(".") if "." in path else (path,):
        value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            if default is _MISSING:
                raise PayloadError(f"The payload has no “{_full(data, path)}” field.")
            return default
    if isinstance(value, dict):
        scoped = _Scoped(value)
        scoped.prefix = _full(data, path) + "."
        return scoped
    return value


def _str(data: Any, path: str, default: Any = _MISSING, limit: int = 255, shorten: bool = False) -> str:
    """A string field. NUL characters are refused (no database keeps them). A value over ``limit``
    characters is refused with a message that says so, or, with ``shorten`` (names and titles that
    are only shown), shortened visibly with an ellipsis: never cut without notice."""
    value = _get(data, path, default)
    if isinstance(value, (dict, list)):
        raise PayloadError(f"“{_full(data, path)}” must be a string.")
    if value is None:
        return ""
    text = str(value)
    if "\x00" in text:
        raise PayloadError(f"“{_full(data, path)}” contains a NUL character.")
    if len(text) > limit:
        if shorten:
            return text[: limit - 1] + "…"
        raise PayloadError(f"“{_full(data, path)}” is {len(text):,} characters long; Bridge keeps up to {limit:,}.")
    return text


def _full(data: Any, path: str) -> str:
    return getattr(data, "prefix", "") + path


def _branch(data: Any, path: str, default: Any = "") -> str:
    """A branch or ref name, kept whole: Git allows long ones; Bridge keeps up to BRANCH_MAX_BYTES bytes."""
    text = _str(data, path, default, limit=100_000)
    size = len(text.encode("utf-8"))
    if size > BRANCH_MAX_BYTES:
        raise PayloadError(
            f"“{_full(data, path)}” is {size:,} bytes long; "
            f"Bridge keeps branch names of up to {BRANCH_MAX_BYTES:,} bytes."
        )
    return text


def _title(data: Any, path: str) -> str:
    """The first line of a commit message or a title, shortened visibly if long."""
    text = _str(data, path, "", limit=100_000, shorten=True)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:299] + "…" if len(first) > 300 else first


def _url(data: Any, path: str) -> str:
    """A link shown on Bridge's pages: only http(s), never ``javascript:`` or the like. A link longer than
    Bridge keeps (500 characters) is left out rather than cut into a wrong one."""
    value = _str(data, path, "", limit=100_000).strip()
    if len(value) > 500:
        return ""
    return value if value.lower().startswith(("https://", "http://")) else ""


def _int(data: Any, path: str, default: Any = _MISSING) -> int | None:
    value = _get(data, path, default)
    if value is None:
        return None
    if isinstance(value, str) and len(value) > 20:
        raise PayloadError(f"“{_full(data, path)}” is out of range.")
    try:
        number = int(value)
    except OverflowError:  # 1e999 parses as infinity
        raise PayloadError(f"“{_full(data, path)}” is out of range.") from None
    except (TypeError, ValueError):
        raise PayloadError(f"“{_full(data, path)}” must be a whole number.") from None
    if number < 0 or number > 2**31:
        raise PayloadError(f"“{_full(data, path)}” is out of range.")
    return number


def _seconds(data: Any, path: str) -> int | None:
    """A duration in seconds (GitLab sends 63 or 17.1), or None."""
    value = _get(data, path, None)
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 2**31:
        raise PayloadError(f"“{_full(data, path)}” must be a number of seconds.")
    return round(value)


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

GITHUB_EVENTS = {
    "workflow_run", "workflow_job", "deployment_status", "check_suite", "check_run", "status", "push", "ping",
}  # fmt: skip
GITHUB_ACTIONS_APP = "github-actions"  # its check suites and runs arrive again as workflow_run and workflow_job


def _github_run_status(status: str, conclusion: str) -> str:
    if status == "completed":
        return {
            "success": RunStatus.SUCCESS,
            "cancelled": RunStatus.CANCELLED,
            "skipped": RunStatus.SKIPPED,
            "neutral": RunStatus.SKIPPED,
            "stale": RunStatus.SKIPPED,
            # A fork's pull request waiting for a maintainer to approve its workflows: not a failure.
            "action_required": RunStatus.WAITING,
        }.get(conclusion, RunStatus.FAILED)
    if status == "in_progress":
        return RunStatus.RUNNING
    if status == "waiting":  # a job waiting for a protected environment's reviewers
        return RunStatus.WAITING
    return RunStatus.QUEUED


def _github_repo(payload: dict) -> RepoInfo:
    return RepoInfo(
        provider=Provider.GITHUB,
        slug=_str(payload, "repository.full_name"),
        url=_url(payload, "repository.html_url"),
        default_branch=_branch(payload, "repository.default_branch", ""),
    )


def _github_job(payload: dict, repo: RepoInfo) -> JobEvent:
    job = _get(payload, "workflow_job")
    status = _str(job, "status")
    conclusion = _str(job, "conclusion", "", limit=40, shorten=True)
    steps = []
    for step in _get(job, "steps", []) or []:
        if not isinstance(step, dict):
            raise PayloadError("“workflow_job.steps” must be a list of objects.")
        steps.append(
            {
                "number": _int(step, "number", None),
                "name": _str(step, "name", "", shorten=True),
                "status": _github_run_status(_str(step, "status", ""), _str(step, "conclusion", "")),
                "started_at": _str(step, "started_at", ""),
                "finished_at": _str(step, "completed_at", ""),
            }
        )
    job_url = _url(job, "html_url")
    run_id = _str(job, "run_id", limit=100)
    # The run's own page on GitHub, for a run Bridge knows only from its jobs.
    run_url = f"{repo.url.rstrip('/')}/actions/runs/{run_id}" if repo.url else ""
    return JobEvent(
        repo=repo,
        pipeline_name=_str(job, "workflow_name", "", shorten=True) or "workflow",
        run_id=run_id,
        attempt=_int(job, "run_attempt", 1) or 1,
        job_id=_str(job, "id", limit=100),
        name=_str(job, "name", shorten=True),
        status=_github_run_status(status, conclusion),
        conclusion=conclusion,
        branch=_branch(job, "head_branch"),
        commit_sha=_str(job, "head_sha", "", limit=64),
        created_at=_time(job, "created_at", None),
        started_at=_time(job, "started_at", None),
        finished_at=_time(job, "completed_at", None) if status == "completed" else None,
        url=job_url,
        steps=steps,
        run_url=run_url,
    )


def _github_workflow_run(payload: dict, repo: RepoInfo) -> RunEvent:
    run = _get(payload, "workflow_run")
    status = _str(run, "status")
    conclusion = _str(run, "conclusion", "", limit=40, shorten=True)
    created = _time(run, "created_at")
    updated = _time(run, "updated_at", None)
    mapped = _github_run_status(status, conclusion)
    return RunEvent(
        repo=repo,
        pipeline_name=_str(run, "name", "", shorten=True) or _str(run, "path", "workflow", shorten=True),
        run_id=_str(run, "id", limit=100),
        attempt=_int(run, "run_attempt", 1) or 1,
        number=_int(run, "run_number", None),
        branch=_branch(run, "head_branch"),
        commit_sha=_str(run, "head_sha", "", limit=64),
        commit_at=_time(run, "head_commit.timestamp", None),
        event=_str(run, "event", "", limit=100, shorten=True),
        status=mapped,
        conclusion=conclusion,
        created_at=created,
        started_at=_time(run, "run_started_at", None) or (created if status != "queued" else None),
        finished_at=updated if status == "completed" and mapped != RunStatus.WAITING else None,
        url=_url(run, "html_url"),
        actor=_str(run, "triggering_actor.login", "", limit=150, shorten=True)
        or _str(run, "actor.login", "", limit=150, shorten=True),
        title=_title(run, "display_title") or _title(run, "head_commit.message"),
        state_at=updated,
    )


def _github_app(suite: dict) -> str:
    return _str(suite, "app.name", "", shorten=True) or _str(suite, "app.slug", "", shorten=True) or "GitHub checks"


def _github_suite_run(payload: dict, repo: RepoInfo, suite: dict, jobs: list[JobEvent]) -> RunEvent:
    """A check suite as a run of the pipeline named by its app (Jenkins, CircleCI, Buildkite, …)."""
    status = _str(suite, "status", "queued")
    conclusion = _str(suite, "conclusion", "", limit=40, shorten=True)
    mapped = _github_run_status(status, conclusion)
    created = _time(suite, "created_at", None) or min(
        (job.created_at or job.started_at for job in jobs if job.created_at or job.started_at),
        default=None,
    )
    if created is None:
        raise PayloadError(f"The payload has no “{_full(suite, 'created_at')}” field.")
    updated = _time(suite, "updated_at", None)
    sha = _str(suite, "head_sha", "", limit=64)
    started = min((job.started_at for job in jobs if job.started_at), default=None)
    if status_rank(mapped) == 0 and any(status_rank(job.status) >= 1 for job in jobs):
        mapped = RunStatus.RUNNING  # a check run has started although the suite still says queued
    return RunEvent(
        repo=repo,
        pipeline_name=_github_app(suite),
        run_id=_str(suite, "id", limit=100),
        attempt=1,
        branch=_branch(suite, "head_branch"),
        commit_sha=sha,
        commit_at=_time(suite, "head_commit.timestamp", None),
        event="pull_request" if _get(suite, "pull_requests", None) else "push",
        status=mapped,
        conclusion=conclusion,
        created_at=created,
        started_at=started or (created if status_rank(mapped) >= 1 else None),
        finished_at=(updated or created) if status_rank(mapped) >= 2 else None,
        url=f"{repo.url.rstrip('/')}/commit/{sha}/checks" if repo.url and sha else "",
        actor=_str(payload, "sender.login", "", limit=150, shorten=True),
        title=_title(suite, "head_commit.message"),
        jobs=jobs,
        state_at=updated,
        restartable=True,
    )


def _github_check_run(payload: dict, repo: RepoInfo) -> RunEvent:
    check = _get(payload, "check_run")
    suite = _get(check, "check_suite")
    status = _str(check, "status")
    conclusion = _str(check, "conclusion", "", limit=40, shorten=True)
    job = JobEvent(
        repo=repo,
        pipeline_name=_github_app(suite),
        run_id=_str(suite, "id", limit=100),
        attempt=1,
        job_id=_str(check, "id", limit=100),
        name=_str(check, "name", shorten=True),
        status=_github_run_status(status, conclusion),
        conclusion=conclusion,
        branch=_branch(suite, "head_branch"),
        commit_sha=_str(check, "head_sha", "", limit=64),
        started_at=_time(check, "started_at", None),
        finished_at=_time(check, "completed_at", None) if status == "completed" else None,
        url=_url(check, "details_url") or _url(check, "html_url"),
    )
    return _github_suite_run(payload, repo, suite, [job])


def _github_status(payload: dict, repo: RepoInfo) -> RunEvent:
    """A commit status as a run of the pipeline named by its context, one run per commit."""
    state = _str(payload, "state")
    mapped = {
        "pending": RunStatus.RUNNING,
        "success": RunStatus.SUCCESS,
        "failure": RunStatus.FAILED,
        "error": RunStatus.FAILED,
    }.get(state)
    if mapped is None:
        raise PayloadError(f"Unknown commit status “{state[:40]}”.")
    sha = _str(payload, "sha", limit=64)
    created = _time(payload, "created_at")
    updated = _time(payload, "updated_at", None) or created
    branches = _get(payload, "branches", []) or []
    if not isinstance(branches, list):
        raise PayloadError("“branches” must be a list of objects.")
    named = [b for b in branches if isinstance(b, dict) and isinstance(b.get("commit"), dict)]
    heads = [b for b in named if b["commit"].get("sha") == sha] or (named if len(named) == 1 else [])
    return RunEvent(
        repo=repo,
        pipeline_name=_str(payload, "context", "", shorten=True) or "default",
        run_id=sha,
        attempt=1,
        branch=_branch(heads[0], "name") if heads else "",
        commit_sha=sha,
        commit_at=_time(payload, "commit.commit.author.date", None),
        status=mapped,
        conclusion=state,
        created_at=created,
        started_at=created if mapped == RunStatus.RUNNING else None,
        finished_at=updated if mapped != RunStatus.RUNNING else None,
        url=_url(payload, "target_url"),
        actor=_str(payload, "commit.author.login", "", limit=150, shorten=True)
        or _str(payload, "sender.login", "", limit=150, shorten=True),
        title=_title(payload, "commit.commit.message"),
        state_at=updated,
        restartable=True,
    )


def parse_github(event: str, payload: dict) -> Parsed:
    if event == "ping":
        return Ping()
    if event not in GITHUB_EVENTS:
        return Ignored(f"GitHub event “{event}” is not used by Bridge.")
    repo = _github_repo(payload)
    if event == "workflow_run":
        return _github_workflow_run(payload, repo)
    if event == "workflow_job":
        return _github_job(payload, repo)
    if event in ("check_suite", "check_run"):
        suite = _get(payload, "check_suite") if event == "check_suite" else _get(payload, "check_run.check_suite")
        app = _get(payload, f"{event}.app", {}) or {}
        if isinstance(app, dict) and (app.get("slug") == GITHUB_ACTIONS_APP or app.get("name") == "GitHub Actions"):
            return Ignored("GitHub Actions' checks arrive as workflow_run and workflow_job events.")
        if event == "check_run":
            return _github_check_run(payload, repo)
        return _github_suite_run(payload, repo, suite, [])
    if event == "status":
        return _github_status(payload, repo)
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
            deployment_id=_str(deployment, "id", limit=100),
            environment=_str(status, "environment", "") or _str(deployment, "environment"),
            status=mapped,
            created_at=_time(deployment, "created_at"),
            commit_sha=_str(deployment, "sha", "", limit=64),
            ref=_branch(deployment, "ref"),
            finished_at=changed if mapped in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED) else None,
            url=_url(status, "target_url") or _url(status, "log_url"),
            actor=_str(status, "creator.login", "", limit=150, shorten=True),
            status_at=changed,
        )
    # push
    commits = []
    for commit in _get(payload, "commits", []) or []:
        if not isinstance(commit, dict):
            raise PayloadError("“commits” must be a list of objects.")
        commits.append((_str(commit, "id", limit=64), _time(commit, "timestamp")))
    head = payload.get("head_commit")
    if isinstance(head, dict) and head.get("id") and not any(sha == head["id"] for sha, _ in commits):
        commits.append((_str(head, "id", limit=64), _time(head, "timestamp")))
    # GitHub lists at most 20 commits (and 3,000 files): with 20 the push may hold more than it says.
    listed = _get(payload, "commits", []) or []
    return CommitsEvent(
        repo=repo,
        commits=commits,
        ref=_branch(payload, "ref"),
        after=_str(payload, "after", "", limit=64),
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
        "manual": RunStatus.WAITING,  # waits for someone to start a manual job
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
        homepage = _str(payload, "repository.homepage", limit=500)
        url = _url(payload, "repository.homepage")
        slug = re.sub(r"^https?://[^/]+/", "", homepage).strip("/")
        if not slug:
            raise PayloadError("The payload names no project (“project.path_with_namespace”).")
        if len(slug) > 255:
            raise PayloadError("“repository.homepage” names a project path longer than Bridge keeps (255).")
    return RepoInfo(
        provider=Provider.GITLAB, slug=slug, url=url, default_branch=_branch(payload, "project.default_branch", "")
    )


def _gitlab_job_event(repo: RepoInfo, run_id: str, build: dict, branch: str, sha: str, prefix: str) -> JobEvent:
    status = _str(build, f"{prefix}status")
    job_id = _str(build, "id" if not prefix else "build_id", limit=100)
    return JobEvent(
        repo=repo,
        pipeline_name=GITLAB_PIPELINE_NAME,
        run_id=run_id,
        attempt=1,
        job_id=job_id,
        name=_str(build, f"{prefix}name", shorten=True),
        stage=_str(build, f"{prefix}stage", "", shorten=True),
        status=_gitlab_status(status),
        conclusion=status[:40],
        branch=branch,
        commit_sha=sha,
        created_at=_time(build, f"{prefix}created_at", None),
        started_at=_time(build, f"{prefix}started_at", None),
        finished_at=_time(build, f"{prefix}finished_at", None),
        duration_seconds=_seconds(build, f"{prefix}duration"),
        url=(repo.url.rstrip("/") + f"/-/jobs/{job_id}") if repo.url else "",
    )


def _gitlab_state_at(created: datetime, finished: datetime | None, jobs: list[JobEvent]) -> datetime:
    """GitLab's hooks carry no "updated at": the latest time in the payload stands for it. A retried job
    brings newer times than the failure it follows; a late delivery of an earlier state brings none."""
    times = [created, finished] + [t for job in jobs for t in (job.created_at, job.started_at, job.finished_at)]
    return max(t for t in times if t is not None)


def parse_gitlab(event: str, payload: dict) -> Parsed:
    if event not in GITLAB_EVENTS:
        return Ignored(f"GitLab event “{event}” is not used by Bridge.")
    repo = _gitlab_repo(payload)
    if event == "Pipeline Hook":
        attrs = _get(payload, "object_attributes")
        status = _str(attrs, "status")
        run_id = _str(attrs, "id", limit=100)
        branch = _branch(attrs, "ref")
        sha = _str(attrs, "sha", "", limit=64)
        jobs = []
        for build in _get(payload, "builds", []) or []:
            if not isinstance(build, dict):
                raise PayloadError("“builds” must be a list of objects.")
            jobs.append(_gitlab_job_event(repo, run_id, build, branch, sha, ""))
        created = _time(attrs, "created_at")
        finished = _time(attrs, "finished_at", None)
        started = min((job.started_at for job in jobs if job.started_at), default=None)
        return RunEvent(
            repo=repo,
            pipeline_name=GITLAB_PIPELINE_NAME,
            run_id=run_id,
            attempt=1,
            number=_int(attrs, "iid", None),
            name=_str(attrs, "name", "", shorten=True),
            branch=branch,
            commit_sha=sha,
            commit_at=_time(payload, "commit.timestamp", None),
            event=_str(attrs, "source", "", limit=100, shorten=True),
            status=_gitlab_status(status),
            conclusion=status[:40],
            created_at=created,
            started_at=started or (created if status not in ("created", "pending") else None),
            finished_at=finished,
            duration_seconds=_seconds(attrs, "duration"),
            url=_url(attrs, "url"),
            actor=_str(payload, "user.username", "", limit=150, shorten=True),
            title=_title(payload, "commit.title") or _title(payload, "commit.message"),
            jobs=jobs,
            state_at=_gitlab_state_at(created, finished, jobs),
            restartable=True,
        )
    if event == "Push Hook":
        listed = _get(payload, "commits", []) or []
        if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
            raise PayloadError("“commits” must be a list of objects.")
        total = _int(payload, "total_commits_count", len(listed)) or 0
        return CommitsEvent(
            repo=repo,
            commits=[(_str(c, "id", limit=64), _time(c, "timestamp")) for c in listed],
            ref=_branch(payload, "ref"),
            after=_str(payload, "after", "", limit=64),
            paths=_changed_paths(listed) if total <= len(listed) else None,
            clone_url=_url(payload, "project.git_http_url"),
        )
    if event == "Job Hook":
        job = _gitlab_job_event(
            repo,
            _str(payload, "pipeline_id", limit=100),
            payload,
            _branch(payload, "ref"),
            _str(payload, "sha", "", limit=64),
            "build_",
        )
        job.run_name = _str(payload, "commit.name", "", shorten=True)  # GitLab's pipeline name, since 15.8
        job.title = _title(payload, "commit.message")
        job.actor = _str(payload, "user.username", "", limit=150, shorten=True)
        return job
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
    sha = (
        commit_url.rstrip("/").rsplit("/", 1)[-1][:64]
        if "/commit/" in commit_url
        else _str(payload, "short_sha", "", limit=64)
    )
    return DeploymentEvent(
        repo=repo,
        deployment_id=_str(payload, "deployment_id", limit=100),
        environment=_str(payload, "environment"),
        status=mapped,
        created_at=changed,
        commit_sha=sha,
        ref=_branch(payload, "ref"),
        finished_at=changed if mapped in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED) else None,
        url=_url(payload, "environment_external_url"),
        actor=_str(payload, "user.username", "", limit=150, shorten=True),
        status_at=changed,
    )


# --- generic -----------------------------------------------------------------------

GENERIC_TYPES = {"run", "deployment", "incident"}


def _choice(data: dict, path: str, choices, default: Any = _MISSING) -> str:
    value = _str(data, path, default, limit=40, shorten=True)
    if value not in set(choices):
        raise PayloadError(f"“{path}” must be one of: {', '.join(sorted(str(c) for c in choices))}.")
    return value


def _generic_repo(payload: dict) -> RepoInfo:
    return RepoInfo(
        provider=Provider.GENERIC,
        slug=_str(payload, "repository"),
        url=_url(payload, "repository_url"),
        default_branch=_branch(payload, "default_branch"),
    )


def parse_generic(payload: dict) -> Parsed:
    kind = _str(payload, "type", limit=100, shorten=True)
    if kind not in GENERIC_TYPES:
        return Ignored(f"Event type “{kind[:40]}” is not one Bridge knows (run, deployment, incident).")
    if kind == "incident":
        started = _time(payload, "started_at")
        resolved = _time(payload, "resolved_at", None)
        if resolved is not None and resolved < started:
            raise PayloadError("An incident cannot be resolved before it started (“resolved_at” < “started_at”).")
        return IncidentEvent(
            incident_id=_str(payload, "incident_id", limit=200),
            title=_str(payload, "title", limit=300, shorten=True),
            started_at=started,
            resolved_at=resolved,
            entity_ref=_str(payload, "entity", "", limit=200),
            repository=_str(payload, "repository", ""),
            deployment_id=_str(payload, "deployment_id", "", limit=100),
            url=_url(payload, "url"),
        )
    repo = _generic_repo(payload)
    if kind == "deployment":
        status = _choice(payload, "status", DeploymentStatus.values)
        return DeploymentEvent(
            repo=repo,
            deployment_id=_str(payload, "deployment_id", limit=100),
            environment=_str(payload, "environment"),
            status=status,
            created_at=_time(payload, "created_at"),
            commit_sha=_str(payload, "commit", "", limit=64),
            commit_at=_time(payload, "commit_at", None),
            ref=_branch(payload, "ref"),
            finished_at=_time(payload, "finished_at", None),
            url=_url(payload, "url"),
            actor=_str(payload, "actor", "", limit=150, shorten=True),
            status_at=_time(payload, "updated_at", None),
        )
    run_id = _str(payload, "run_id", limit=100)
    branch = _branch(payload, "branch")
    sha = _str(payload, "commit", "", limit=64)
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
                    "name": _str(step, "name", shorten=True),
                    "status": _choice(step, "status", RunStatus.values),
                    "started_at": _str(step, "started_at", ""),
                    "finished_at": _str(step, "finished_at", ""),
                }
            )
        jobs.append(
            JobEvent(
                repo=repo,
                pipeline_name=_str(payload, "pipeline", shorten=True),
                run_id=run_id,
                attempt=_int(payload, "attempt", 1) or 1,
                job_id=_str(job, "id", limit=100),
                name=_str(job, "name", shorten=True),
                stage=_str(job, "stage", "", shorten=True),
                status=_choice(job, "status", RunStatus.values),
                branch=branch,
                commit_sha=sha,
                started_at=_time(job, "started_at", None),
                finished_at=_time(job, "finished_at", None),
                duration_seconds=_seconds(job, "duration_seconds"),
                url=_url(job, "url"),
                steps=steps,
            )
        )
    return RunEvent(
        repo=repo,
        pipeline_name=_str(payload, "pipeline", shorten=True),
        run_id=run_id,
        attempt=_int(payload, "attempt", 1) or 1,
        number=_int(payload, "number", None),
        branch=branch,
        commit_sha=sha,
        commit_at=_time(payload, "commit_at", None),
        event=_str(payload, "event", "", limit=100, shorten=True),
        status=_choice(payload, "status", RunStatus.values),
        created_at=_time(payload, "created_at"),
        started_at=_time(payload, "started_at", None),
        finished_at=_time(payload, "finished_at", None),
        duration_seconds=_seconds(payload, "duration_seconds"),
        url=_url(payload, "url"),
        actor=_str(payload, "actor", "", limit=150, shorten=True),
        name=_str(payload, "name", "", shorten=True),
        title=_title(payload, "title"),
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
