"""History from the providers' APIs: GitHub workflow runs, jobs, deployments and their statuses; GitLab
pipelines, jobs and deployments. An adapter to the outside world, called by ``services``.

Every request goes through the portal's one Git-host client (:mod:`portal.githosts`): configured hosts only,
the integration's token, rate limits (it waits a little or raises ``RateLimited`` with ``retry_at``).

The API objects are shaped into the webhook payloads they match and parsed by :mod:`pipelines.providers`,
so a run that arrives by webhook and by API has the same identity (provider id, attempt, pipeline name) and
is written by the same service: one row, whichever way it came first.

Reading a list (newest first) stops at the first page whose oldest item is older than ``since`` (the last
sync's start, or the start of the backfill window); items older than the window are never read. Its first
page is asked for with ``If-None-Match``: a 304 means nothing changed at the top of the list, so nothing
is read further. An item already applied with the same ``updated_at`` (``seen``) is skipped without a
request for its details.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from pipelines import providers
from portal.githosts import errors
from portal.githosts.httpclient import GitHostClient, client
from portal.githosts.integrations import Integration

GITHUB_JSON = "application/vnd.github+json"
PER_PAGE = 100
MAX_PAGES = 200  # 20,000 items per list and sync; the next reconcile goes on from there


@dataclass
class Change:
    """One run or deployment that is new or changed: apply ``events`` and remember ``key`` = ``version``."""

    key: str
    version: str
    events: list = field(default_factory=list)


class Reader:
    """Reads what changed in one repository since ``since``; see the module docstring.

    ``etags``: the first page's ETag of each list from the last complete read; after ``changes()`` is
    exhausted, ``new_etags`` holds the ones to keep (a list read only in part keeps no ETag, so the next
    sync reads it again). ``requests`` counts the requests sent.
    """

    def __init__(
        self,
        integration: Integration,
        slug: str,
        web_url: str,
        *,
        since: datetime,
        window_start: datetime | None = None,
        etags: dict | None = None,
        seen: dict | None = None,
        default_branch: str = "",
        unfinished: list[str] | None = None,
        http: GitHostClient | None = None,
    ):
        self.integration = integration
        self.slug = slug
        self.web_url = web_url.rstrip("/")
        self.since = since  # reading a list stops at the first page that goes back beyond it
        self.window_start = window_start or since  # items older than this are not read at all
        self.etags = dict(etags or {})
        self.new_etags = dict(self.etags)
        self.seen = seen or {}
        self.default_branch = default_branch
        self.unfinished = unfinished or []
        self.http = http or client()
        self.api = integration.api_url
        self.requests = 0

    # -- HTTP --

    def _get(self, url: str, etag: str = ""):
        self.requests += 1
        accept = GITHUB_JSON if self.integration.type == "github" else ""
        return self.http.get(url, etag=etag, accept=accept, integration=self.integration)

    def _all(self, url: str, key: str | None = None) -> list:
        """Every item of a paginated list (``Link: rel="next"``)."""
        items: list = []
        pages = 0
        while url and pages < MAX_PAGES:
            response = self._get(url)
            data = response.json()
            items.extend((data or {}).get(key, []) if key else (data or []))
            url = response.links.get("next", "")
            pages += 1
        return items

    def _walk(self, name: str, url: str, key: str | None, time_field: str) -> Iterator[dict]:
        """The items of a newest-first list down to ``since``; a 304 on the first page yields nothing."""
        etag = self.etags.get(name, "")
        first_etag = ""
        pages = 0
        while url and pages < MAX_PAGES:
            response = self._get(url, etag if pages == 0 else "")
            if response.not_modified:
                return
            if pages == 0:
                first_etag = response.etag
            data = response.json()
            items = (data or {}).get(key, []) if key else (data or [])
            if not isinstance(items, list):
                raise errors.GitHostError(f"{self.integration.host} answered an unexpected list for {name}.")
            oldest = None
            for item in items:
                when = providers.parse_time(item.get(time_field), time_field)
                oldest = when if oldest is None or (when and when < oldest) else oldest
                yield item
            pages += 1
            if not items or (oldest is not None and oldest < self.since):
                break
            url = response.links.get("next", "")
        if first_etag:
            self.new_etags[name] = first_etag

    def _changed(self, key: str, version: str) -> bool:
        return self.seen.get(key) != version

    # -- what changed --

    def changes(self) -> Iterator[Change]:
        if self.integration.type == "github":
            yield from self._github()
        elif self.integration.type == "gitlab":
            yield from self._gitlab()
        else:
            raise errors.Refused(f"{self.integration.host} is a plain Git host: it has no CI API to read history from.")

    # -- GitHub --

    def _github_repository(self) -> dict:
        return {"full_name": self.slug, "html_url": self.web_url, "default_branch": self.default_branch}

    def _github_run(self, run: dict) -> Change | None:
        attempt = run.get("run_attempt") or 1
        key = f"run:{run['id']}:{attempt}"
        version = f"{run.get('updated_at')}|{run.get('status')}"
        if not self._changed(key, version):
            return None
        base = f"{self.api}/repos/{quote(self.slug, safe='/')}/actions/runs/{run['id']}"
        jobs = self._all(f"{base}/jobs?per_page={PER_PAGE}", "jobs")
        repository = self._github_repository()
        event = providers.parse_github("workflow_run", {"workflow_run": run, "repository": repository})
        event.jobs = [
            providers.parse_github("workflow_job", {"workflow_job": job, "repository": repository})
            for job in jobs
            if (job.get("run_attempt") or 1) == attempt
        ]
        return Change(key, version, [event])

    def _github(self) -> Iterator[Change]:
        repo_url = f"{self.api}/repos/{quote(self.slug, safe='/')}"
        visited: set[str] = set()
        for run in self._walk("runs", f"{repo_url}/actions/runs?per_page={PER_PAGE}", "workflow_runs", "created_at"):
            visited.add(str(run.get("id")))
            if providers.parse_time(run.get("created_at"), "created_at") < self.window_start:
                continue
            change = self._github_run(run)
            if change:
                yield change
        # Runs stored as not finished that the list did not reach (created long ago, still running).
        for run_id in self.unfinished:
            if run_id in visited:
                continue
            try:
                run = self._get(f"{repo_url}/actions/runs/{quote(run_id, safe='')}").json()
            except errors.NotFound:
                continue
            change = self._github_run(run)
            if change:
                yield change
        for deployment in self._walk("deployments", f"{repo_url}/deployments?per_page={PER_PAGE}", None, "created_at"):
            if providers.parse_time(deployment.get("created_at"), "created_at") < self.window_start:
                continue
            key = f"deployment:{deployment['id']}"
            version = str(deployment.get("updated_at"))
            if not self._changed(key, version):
                continue
            statuses = self._all(f"{repo_url}/deployments/{deployment['id']}/statuses?per_page={PER_PAGE}")
            repository = self._github_repository()
            events = [
                providers.parse_github(
                    "deployment_status",
                    {"deployment": deployment, "deployment_status": status, "repository": repository},
                )
                for status in reversed(statuses)  # oldest first, as the webhooks came
            ]
            yield Change(key, version, events)

    # -- GitLab --

    def _gitlab_project(self) -> dict:
        return {"path_with_namespace": self.slug, "web_url": self.web_url, "default_branch": self.default_branch}

    def _gitlab(self) -> Iterator[Change]:
        project_url = f"{self.api}/projects/{quote(self.slug, safe='')}"
        order = f"per_page={PER_PAGE}&order_by=updated_at&sort=desc"
        for listed in self._walk("pipelines", f"{project_url}/pipelines?{order}", None, "updated_at"):
            if providers.parse_time(listed.get("updated_at"), "updated_at") < self.window_start:
                continue
            key = f"pipeline:{listed['id']}"
            version = f"{listed.get('updated_at')}|{listed.get('status')}"
            if not self._changed(key, version):
                continue
            pipeline = self._get(f"{project_url}/pipelines/{listed['id']}").json()
            jobs = self._all(f"{project_url}/pipelines/{listed['id']}/jobs?per_page={PER_PAGE}")
            yield Change(key, version, [providers.parse_gitlab("Pipeline Hook", self._pipeline_hook(pipeline, jobs))])
        for deployment in self._walk("deployments", f"{project_url}/deployments?{order}", None, "updated_at"):
            if providers.parse_time(deployment.get("updated_at"), "updated_at") < self.window_start:
                continue
            key = f"deployment:{deployment['id']}"
            version = f"{deployment.get('updated_at')}|{deployment.get('status')}"
            if not self._changed(key, version):
                continue
            event = providers.parse_gitlab("Deployment Hook", self._deployment_hook(deployment))
            # The hook knows only when the status changed; the API also says when the deployment was created.
            created = providers.parse_time(deployment.get("created_at"), "created_at")
            if created is not None:
                event.created_at = created
            yield Change(key, version, [event])

    def _pipeline_hook(self, pipeline: dict, jobs: list) -> dict:
        """A GitLab pipeline and its jobs from the API, as the Pipeline Hook carries them."""
        commit = next((job.get("commit") for job in jobs if isinstance(job.get("commit"), dict)), None) or {}
        return {
            "object_kind": "pipeline",
            "object_attributes": {
                "id": pipeline.get("id"),
                "iid": pipeline.get("iid"),
                "name": pipeline.get("name"),
                "ref": pipeline.get("ref"),
                "sha": pipeline.get("sha"),
                "status": pipeline.get("status"),
                "source": pipeline.get("source"),
                "created_at": pipeline.get("created_at"),
                "finished_at": pipeline.get("finished_at"),
                "duration": pipeline.get("duration"),
                "url": pipeline.get("web_url"),
            },
            "user": pipeline.get("user") or {},
            "project": self._gitlab_project(),
            "commit": {
                "title": commit.get("title"),
                "message": commit.get("message"),
                "timestamp": commit.get("created_at"),
            },
            "builds": [
                {
                    "id": job.get("id"),
                    "name": job.get("name"),
                    "stage": job.get("stage"),
                    "status": job.get("status"),
                    "created_at": job.get("created_at"),
                    "started_at": job.get("started_at"),
                    "finished_at": job.get("finished_at"),
                    "duration": job.get("duration"),
                }
                for job in jobs
            ],
        }

    def _deployment_hook(self, deployment: dict) -> dict:
        environment = deployment.get("environment") or {}
        sha = deployment.get("sha") or ""
        return {
            "object_kind": "deployment",
            "deployment_id": deployment.get("id"),
            "status": deployment.get("status"),
            "status_changed_at": deployment.get("updated_at") or deployment.get("created_at"),
            "environment": environment.get("name"),
            "environment_external_url": environment.get("external_url"),
            "commit_url": f"{self.web_url}/-/commit/{sha}" if sha else "",
            "short_sha": sha[:8],
            "ref": deployment.get("ref"),
            "user": deployment.get("user") or {},
            "project": self._gitlab_project(),
        }
