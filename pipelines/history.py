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
request for its details. The details of a page's items (a run's jobs: GitHub and GitLab list them per run)
are asked for a few at a time (``concurrency``), through the same client, so rate limits still stop them all.

A reconcile with nothing new makes one request: the runs (GitHub) or pipelines (GitLab) list, answered 304.
Deployments made by the CI change their run or pipeline too, so their list is read when that list changed;
and, for deployments made by other tools, when ``deployments_due`` (the service asks every few hours).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class _Failed:
    exc: BaseException


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
        unfinished: list[tuple[str, datetime]] | None = None,
        first_page_from: datetime | None = None,
        deployments_due: bool = True,
        concurrency: int = 1,
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
        # Runs stored as not finished (id, created): the list may not reach them. ``first_page_from``: the oldest
        # of the newest PER_PAGE stored runs; when the runs list answers 304, newer unfinished runs are on its
        # unchanged first page, so they have not changed either.
        self.unfinished = unfinished or []
        self.first_page_from = first_page_from
        self.deployments_due = deployments_due
        self.deployments_read = False  # the deployments list was read to its end (the service notes when)
        self.concurrency = max(1, concurrency)
        self.http = http or client()
        self.api = integration.api_url
        self.requests = 0
        self._count_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self.not_modified: dict[str, bool] = {}

    def close(self) -> None:
        """Stop the threads that read details (waits for those under way)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _each(self, fetch: Callable, items: list) -> Iterator[tuple]:
        """``(item, fetch(item))`` in the order of ``items``, up to ``concurrency`` requests at a time. The first
        failure (a rate limit, say) is raised after the results before it, so what was read in order is kept."""
        if self.concurrency == 1 or len(items) <= 1:
            for item in items:
                yield item, fetch(item)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="pipelines-history")
        futures = [self._executor.submit(fetch, item) for item in items]
        try:
            for item, future in zip(items, futures, strict=True):
                yield item, future.result()
        finally:
            for future in futures:
                future.cancel()

    # -- HTTP --

    def _get(self, url: str, etag: str = ""):
        with self._count_lock:
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

    def _walk(self, name: str, url: str, key: str | None, time_field: str) -> Iterator[list[dict]]:
        """The pages of a newest-first list down to ``since``; a 304 on the first page yields nothing (and
        leaves ``not_modified[name]`` true)."""
        etag = self.etags.get(name, "")
        first_etag = ""
        pages = 0
        self.not_modified[name] = False
        while url and pages < MAX_PAGES:
            response = self._get(url, etag if pages == 0 else "")
            if response.not_modified:
                self.not_modified[name] = True
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
            yield items
            pages += 1
            if not items or (oldest is not None and oldest < self.since):
                break
            url = response.links.get("next", "")
        if first_etag:
            self.new_etags[name] = first_etag

    def _changed(self, key: str, version: str) -> bool:
        return self.seen.get(key) != version

    # -- what changed --

    def changes_ahead(self, depth: int = 2 * PER_PAGE) -> Iterator[Change]:
        """``changes()``, read by a thread of its own up to ``depth`` changes ahead of the caller, so the next page
        is fetched while the caller writes this one. In the same order; a failure (a rate limit) is raised
        after every change read before it. The thread only talks HTTP, never to the database."""
        ahead: queue.Queue = queue.Queue(maxsize=max(1, depth))
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            changes = self.changes()
            try:
                for change in changes:
                    if not put(change):
                        return
                put(done)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, in order
                put(_Failed(exc))
            finally:
                changes.close()
                from django.db import connections

                connections.close_all()  # this thread's, should a lookup ever have opened one

        reader = threading.Thread(target=produce, name="pipelines-history-reader", daemon=True)
        reader.start()
        try:
            while True:
                item = ahead.get()
                if item is done:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            stop.set()
            reader.join()

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

    def _github_run_key(self, run: dict) -> tuple[str, str]:
        attempt = run.get("run_attempt") or 1
        return f"run:{run['id']}:{attempt}", f"{run.get('updated_at')}|{run.get('status')}"

    def _github_runs(self, runs: list[dict]) -> Iterator[Change]:
        """The changed ones of ``runs``, with their jobs (one request each, a few at a time)."""
        changed = [run for run in runs if self._changed(*self._github_run_key(run))]
        repo_url = f"{self.api}/repos/{quote(self.slug, safe='/')}"

        def jobs_of(run: dict) -> list:
            return self._all(f"{repo_url}/actions/runs/{run['id']}/jobs?per_page={PER_PAGE}", "jobs")

        repository = self._github_repository()
        for run, jobs in self._each(jobs_of, changed):
            attempt = run.get("run_attempt") or 1
            event = providers.parse_github("workflow_run", {"workflow_run": run, "repository": repository})
            event.jobs = [
                providers.parse_github("workflow_job", {"workflow_job": job, "repository": repository})
                for job in jobs
                if (job.get("run_attempt") or 1) == attempt
            ]
            yield Change(*self._github_run_key(run), [event])

    def _github(self) -> Iterator[Change]:
        repo_url = f"{self.api}/repos/{quote(self.slug, safe='/')}"
        visited: set[str] = set()
        for page in self._walk("runs", f"{repo_url}/actions/runs?per_page={PER_PAGE}", "workflow_runs", "created_at"):
            visited.update(str(run.get("id")) for run in page)
            yield from self._github_runs(
                [run for run in page if providers.parse_time(run.get("created_at"), "created_at") >= self.window_start]
            )
        runs_changed = not self.not_modified.get("runs")
        # Runs stored as not finished that the list did not reach (created long ago, still running). After a 304
        # the first page is as it was: only the unfinished runs older than it can have changed.
        unfinished = [
            run_id
            for run_id, created in self.unfinished
            if run_id not in visited
            and (runs_changed or self.first_page_from is None or created < self.first_page_from)
        ]
        for run_id in unfinished:
            try:
                run = self._get(f"{repo_url}/actions/runs/{quote(run_id, safe='')}").json()
            except errors.NotFound:
                continue
            yield from self._github_runs([run])
        if not (runs_changed or self.deployments_due):
            return
        for page in self._walk("deployments", f"{repo_url}/deployments?per_page={PER_PAGE}", None, "created_at"):
            changed = []
            for deployment in page:
                if providers.parse_time(deployment.get("created_at"), "created_at") < self.window_start:
                    continue
                if self._changed(f"deployment:{deployment['id']}", str(deployment.get("updated_at"))):
                    changed.append(deployment)

            def statuses_of(deployment: dict) -> list:
                return self._all(f"{repo_url}/deployments/{deployment['id']}/statuses?per_page={PER_PAGE}")

            repository = self._github_repository()
            for deployment, statuses in self._each(statuses_of, changed):
                events = [
                    providers.parse_github(
                        "deployment_status",
                        {"deployment": deployment, "deployment_status": status, "repository": repository},
                    )
                    for status in reversed(statuses)  # oldest first, as the webhooks came
                ]
                yield Change(f"deployment:{deployment['id']}", str(deployment.get("updated_at")), events)
        self.deployments_read = True

    # -- GitLab --

    def _gitlab_project(self) -> dict:
        return {"path_with_namespace": self.slug, "web_url": self.web_url, "default_branch": self.default_branch}

    def _gitlab(self) -> Iterator[Change]:
        project_url = f"{self.api}/projects/{quote(self.slug, safe='')}"
        order = f"per_page={PER_PAGE}&order_by=updated_at&sort=desc"

        def version(item: dict) -> str:
            return f"{item.get('updated_at')}|{item.get('status')}"

        def details(listed: dict) -> tuple[dict, list]:
            pipeline = self._get(f"{project_url}/pipelines/{listed['id']}").json()
            return pipeline, self._all(f"{project_url}/pipelines/{listed['id']}/jobs?per_page={PER_PAGE}")

        for page in self._walk("pipelines", f"{project_url}/pipelines?{order}", None, "updated_at"):
            changed = [
                listed
                for listed in page
                if providers.parse_time(listed.get("updated_at"), "updated_at") >= self.window_start
                and self._changed(f"pipeline:{listed['id']}", version(listed))
            ]
            for listed, (pipeline, jobs) in self._each(details, changed):
                hook = self._pipeline_hook(pipeline, jobs)
                yield Change(
                    f"pipeline:{listed['id']}", version(listed), [providers.parse_gitlab("Pipeline Hook", hook)]
                )
        # GitLab's deployments are made by its pipelines' jobs, which change their pipeline (and so the list).
        if not (self.deployments_due or not self.not_modified.get("pipelines")):
            return
        for page in self._walk("deployments", f"{project_url}/deployments?{order}", None, "updated_at"):
            for deployment in page:
                if providers.parse_time(deployment.get("updated_at"), "updated_at") < self.window_start:
                    continue
                key = f"deployment:{deployment['id']}"
                if not self._changed(key, version(deployment)):
                    continue
                event = providers.parse_gitlab("Deployment Hook", self._deployment_hook(deployment))
                # The hook knows only when the status changed; the API also says when the deployment was created.
                created = providers.parse_time(deployment.get("created_at"), "created_at")
                if created is not None:
                    event.created_at = created
                yield Change(key, version(deployment), [event])
        self.deployments_read = True

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
