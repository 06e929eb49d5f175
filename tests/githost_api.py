"""GitHub's and GitLab's REST APIs, simulated for tests from recorded real responses.

The answers are shaped after recordings (tests/fixtures/githosts/, each naming its source):
GitHub's repository object and headers from octokit/fixtures, GitLab's project object and
pagination headers from GitLab's API documentation. The content comes from a real
:class:`tests.gitserver.GitServer`, so the API and ``git`` agree on every file and blob id.

    git = GitServer(tmp_path).start()
    api = GitHostAPI(git, "github").start()     # or "gitlab"
    api.add("acme/shop")                         # a repository the API lists (commit to it with git)
    api.api_url                                  # http://127.0.0.1:PORT/api/v3 (or /api/v4)
    api.limit_next(1, kind="secondary", retry_after=1)   # the next request is rate-limited
    api.redirect("/api/v3/repos/acme/moved", "http://elsewhere:1/")
    api.requests                                 # what Bridge asked (method, path, query, headers, status)

Implemented: GitHub ``/orgs/{org}/repos``, ``/users/{user}/repos``, ``/repos/{o}/{r}``,
``/repos/{o}/{r}/contents/{path}`` (raw media type; ``ETag`` is the blob id in quotes, as
recorded; 304 on ``If-None-Match``), ``/repos/{o}/{r}/git/trees/{ref}?recursive=1``. GitLab
``/groups/{id}/projects`` (``include_subgroups``), ``/projects/{id}``,
``/projects/{id}/repository/files/{path}`` (HEAD and ``/raw``), ``/projects/{id}/repository/tree``.
Repository creation (tests/fixtures/githosts/scaffolder_recorded.json): GitHub ``POST /orgs/{org}/repos``
(201, or 422 when the name is taken) and ``DELETE /repos/{o}/{r}``; GitLab ``GET /namespaces/{path}``
(groups added with ``add_group``), ``POST /projects`` and ``DELETE /projects/{id}``. A created
repository is an empty bare repository of the Git server that accepts pushes.
Lists are paginated with ``Link`` headers (and GitLab's ``x-*`` headers); every answer carries
rate-limit headers that count down.

CI history (``pipelines/history.py``), from ``pipelines_github.json`` (real api.github.com answers recorded by
PyGithub's test suite) and ``pipelines_gitlab.json`` (GitLab's API documentation): GitHub
``/repos/{o}/{r}/actions/runs`` (newest first), ``/actions/runs/{id}``, ``/actions/runs/{id}/jobs``,
``/deployments``, ``/deployments/{id}/statuses``; GitLab ``/projects/{id}/pipelines`` (``order_by=updated_at``),
``/pipelines/{id}``, ``/pipelines/{id}/jobs``, ``/deployments``. ``api.ci_history(slug, runs=N)`` fills a
repository with the recorded run (and N-1 copies with new ids), its recorded jobs and the recorded
deployments, re-dated so the newest was an hour ago (the recordings are years old; a backfill reads 90 days).
Every list and object carries an ``ETag`` and answers ``If-None-Match`` with 304, as both hosts do.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.gitserver import GitServer

FIXTURES = Path(__file__).parent / "fixtures" / "githosts"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _number(recorded: int, count: int, i: int) -> int:
    """The run number of the i-th newest of ``count`` runs: the recorded one first, counting down while that stays
    above 0 (else the newest gets the highest number)."""
    return recorded - i if count <= recorded else recorded + count - 1 - i


def redate(obj, delta: timedelta):
    """A copy of a recorded object with every ISO timestamp moved by ``delta`` (written as the host writes them)."""
    if isinstance(obj, dict):
        return {k: redate(v, delta) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redate(v, delta) for v in obj]
    if isinstance(obj, str) and _ISO.match(obj):
        moved = _parse_iso(obj) + delta
        if obj.endswith("Z") and "." not in obj:
            return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if obj.endswith("Z"):
            return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return moved.isoformat(timespec="milliseconds")
    return obj


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class GitHostAPI:
    def __init__(self, git: GitServer, kind: str = "github"):
        assert kind in ("github", "gitlab")
        self.git = git
        self.kind = kind
        self.recorded = _load("github_recorded.json" if kind == "github" else "gitlab_recorded.json")
        self.limits = _load("github_rate_limits.json")
        self.creation = _load("scaffolder_recorded.json")
        self.groups: dict[str, int] = {}  # GitLab group path -> namespace id
        self.bodies: list[dict] = []  # the JSON bodies Bridge sent, in order
        self.repos: dict[str, dict] = {}  # slug -> {"archived": bool, "id": int}
        self.requests: list[dict] = []
        self.redirects: dict[str, str] = {}
        self._limited: list[dict | None] = []
        self.rate_limit = 5000  # requests per hour, as GitHub gives a token (GitHub Apps on Enterprise Cloud: 15,000)
        self._remaining = self.rate_limit
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.ci: dict[str, dict] = {}  # slug -> CI history (see ci_history)
        self.bad_credentials = False  # every request answered 401
        self.ci_recorded = _load("pipelines_github.json" if kind == "github" else "pipelines_gitlab.json")

    # -- lifecycle --

    def start(self) -> GitHostAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Keep-alive with headers and body written separately: without TCP_NODELAY, Nagle's algorithm holds
            # the body until the client's delayed ACK (40 ms on Linux), and every answer took 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                api._handle(self)

            do_HEAD = do_POST = do_DELETE = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def prefix(self) -> str:
        return "/api/v3" if self.kind == "github" else "/api/v4"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}{self.prefix}"

    # -- what the test controls --

    def add(self, slug: str, *, archived: bool = False) -> None:
        with self._lock:
            self.repos[slug] = {
                "archived": archived,
                "id": self.repos.get(slug, {}).get("id") or 1000 + len(self.repos),
            }

    def add_group(self, path: str) -> int:
        with self._lock:
            self.groups[path] = self.groups.get(path) or 100 + len(self.groups)
            return self.groups[path]

    def remove(self, slug: str) -> None:
        with self._lock:
            self.repos.pop(slug, None)

    def limit_next(
        self, count: int = 1, *, kind: str = "secondary", retry_after: int | None = 1, after: int = 0
    ) -> None:
        """The next ``count`` requests (after ``after`` answered ones) get a rate-limit answer
        (``secondary`` or ``primary``)."""
        with self._lock:
            self._limited.extend([None] * after)
            for _ in range(count):
                self._limited.append({"kind": kind, "retry_after": retry_after})

    def redirect(self, prefix: str, location: str) -> None:
        self.redirects[prefix] = location

    def count(self, **match) -> int:
        return sum(1 for r in self.requests if all(r.get(k) == v for k, v in match.items()))

    # -- CI history --

    def _rebrand(self, obj, slug: str):
        """Recorded URLs and names pointed at this server and repository."""
        text = json.dumps(obj)
        if self.kind == "github":
            text = (
                text.replace("https://api.github.com", self.api_url)
                .replace("https://github.com", self._web())
                .replace("jacquev6/PyGithub", slug)
                .replace("PyGithub/PyGithub", slug)
            )
        else:
            text = text.replace("https://example.com/foo/bar", f"{self._web()}/{slug}").replace(
                "http://127.0.0.1:3000/test-group/test-project", f"{self._web()}/{slug}"
            )
        return json.loads(text)

    def ci_history(
        self, slug: str, *, runs: int = 1, deployments: bool = True, newest_ago: timedelta = timedelta(hours=1)
    ):
        """Fill ``slug`` with recorded CI history: the recorded run or pipeline first, then ``runs - 1`` copies
        with new ids, each 10 minutes older; the recorded jobs of each; the recorded deployments."""
        now = datetime.now(UTC) - newest_ago
        with self._lock:
            if self.kind == "github":
                self.ci[slug] = self._github_history(slug, runs, deployments, now)
            else:
                self.ci[slug] = self._gitlab_history(slug, runs, deployments, now)
        return self.ci[slug]

    def _github_history(self, slug, count, deployments, now):
        recorded = self.ci_recorded
        run = recorded["workflow_run"]["body"]
        delta = now - _parse_iso(run["created_at"])
        base_run = self._rebrand(redate(run, delta), slug)
        base_jobs = self._rebrand(redate(recorded["jobs"]["body"]["jobs"], delta), slug)
        history = {"runs": [], "jobs": {}, "deployments": [], "statuses": {}}
        for i in range(count):
            step = timedelta(minutes=10 * i)
            copy = redate(base_run, -step) if i else base_run
            copy["id"] = base_run["id"] - i
            copy["run_number"] = _number(base_run["run_number"], count, i)
            copy["html_url"] = copy["html_url"].replace(str(base_run["id"]), str(copy["id"]))
            jobs = redate(base_jobs, -step) if i else base_jobs
            jobs = [dict(job, id=job["id"] - 1000 * i, run_id=copy["id"]) for job in jobs]
            history["runs"].append(copy)
            history["jobs"][str(copy["id"])] = jobs
        if deployments:
            listed = recorded["deployments"]["body"]
            delta_d = now - _parse_iso(max(d["created_at"] for d in listed))
            history["deployments"] = self._rebrand(redate(listed, delta_d), slug)
            statuses = self._rebrand(redate(recorded["deployment_statuses"]["body"], delta_d), slug)
            for deployment in history["deployments"]:
                history["statuses"][str(deployment["id"])] = statuses if deployment["environment"] == "test" else []
        return history

    def _gitlab_history(self, slug, count, deployments, now):
        recorded = self.ci_recorded
        pipeline = recorded["pipeline"]
        delta = now - _parse_iso(pipeline["created_at"])
        base = self._rebrand(redate(pipeline, delta), slug)
        first_job = min(_parse_iso(job["started_at"]) for job in recorded["jobs"])
        delta_j = _parse_iso(base["started_at"]) - first_job
        base_jobs = self._rebrand(redate(recorded["jobs"], delta_j), slug)
        history = {"pipelines": [], "jobs": {}, "deployments": []}
        for i in range(count):
            step = timedelta(minutes=10 * i)
            copy = redate(base, -step) if i else base
            copy["id"] = base["id"] + 1000 * i
            copy["iid"] = _number(base["iid"], count, i)
            copy["web_url"] = copy["web_url"].replace(f"/{base['id']}", f"/{copy['id']}")
            jobs = redate(base_jobs, -step) if i else base_jobs
            jobs = [dict(job, id=job["id"] + 1000 * i, pipeline=dict(job["pipeline"], id=copy["id"])) for job in jobs]
            history["pipelines"].append(copy)
            history["jobs"][str(copy["id"])] = jobs
        if deployments:
            listed = recorded["deployments"]
            delta_d = now - _parse_iso(max(d["updated_at"] for d in listed))
            history["deployments"] = self._rebrand(redate(listed, delta_d), slug)
        return history

    def ci_update_run(self, slug: str, run_id, **fields) -> dict:
        """Change a run or pipeline as the host would (its ``updated_at`` becomes now)."""
        with self._lock:
            items = self.ci[slug]["runs" if self.kind == "github" else "pipelines"]
            item = next(i for i in items if str(i["id"]) == str(run_id))
            stamp = datetime.now(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ" if self.kind == "github" else "%Y-%m-%dT%H:%M:%S.000Z"
            )
            item.update(fields, updated_at=stamp)
        return item

    def _listed(self, items: list, query: dict, path: str, envelope: str | None = None):
        chosen, headers = self._page(items, query, path)
        body = {"total_count": len(items), envelope: chosen} if envelope else chosen
        return self._one(body, headers)

    def _one(self, body, headers: dict | None = None):
        # Encoded once, and the ETag taken from those bytes (a page of 100 recorded runs is about 1.2 MB).
        encoded = json.dumps(body).encode()
        etag = 'W/"' + hashlib.sha256(encoded).hexdigest() + '"'
        return 200, encoded, {"Cache-Control": "private, max-age=60, s-maxage=60", **(headers or {}), "ETag": etag}

    def _github_ci(self, slug: str, rest: list[str], query: dict, path: str):
        history = self.ci.get(slug)
        if history is None:
            return 200, {"total_count": 0, "workflow_runs": []} if rest[0] == "actions" else [], {}
        if rest == ["actions", "runs"]:
            runs = sorted(history["runs"], key=lambda r: r["created_at"], reverse=True)
            return self._listed(runs, query, path, "workflow_runs")
        if len(rest) == 3 and rest[:2] == ["actions", "runs"]:
            return self._one(next(r for r in history["runs"] if str(r["id"]) == rest[2]))
        if len(rest) == 4 and rest[:2] == ["actions", "runs"] and rest[3] == "jobs":
            return self._listed(history["jobs"][rest[2]], query, path, "jobs")
        if rest == ["deployments"]:
            listed = sorted(history["deployments"], key=lambda d: d["created_at"], reverse=True)
            return self._listed(listed, query, path)
        if len(rest) == 3 and rest[0] == "deployments" and rest[2] == "statuses":
            return self._listed(history["statuses"][rest[1]], query, path)
        raise LookupError

    def _gitlab_ci(self, slug: str, rest: list[str], query: dict, path: str):
        history = self.ci.get(slug) or {"pipelines": [], "jobs": {}, "deployments": []}
        if rest == ["pipelines"]:
            short = (
                "id",
                "iid",
                "project_id",
                "status",
                "source",
                "ref",
                "sha",
                "name",
                "web_url",
                "created_at",
                "updated_at",
            )
            listed = sorted(history["pipelines"], key=lambda p: p["updated_at"], reverse=True)
            return self._listed([{k: p.get(k) for k in short} for p in listed], query, path)
        if len(rest) == 2 and rest[0] == "pipelines":
            return self._one(next(p for p in history["pipelines"] if str(p["id"]) == rest[1]))
        if len(rest) == 3 and rest[0] == "pipelines" and rest[2] == "jobs":
            return self._listed(history["jobs"][rest[1]], query, path)
        if rest == ["deployments"]:
            listed = sorted(history["deployments"], key=lambda d: d["updated_at"], reverse=True)
            return self._listed(listed, query, path)
        raise LookupError

    # -- answering --

    def _rate_headers(self, counted: bool) -> dict:
        with self._lock:
            if counted:
                self._remaining = max(0, self._remaining - 1)
            remaining = self._remaining
        reset = str(int(time.time()) + 3600)
        if self.kind == "github":
            return {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": reset,
                "X-RateLimit-Used": str(self.rate_limit - remaining),
                "X-RateLimit-Resource": "core",
            }
        return {"RateLimit-Limit": "2000", "RateLimit-Remaining": str(remaining), "RateLimit-Reset": reset}

    def _send(self, request, status: int, body: bytes | str | dict | list = b"", headers: dict | None = None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        log = getattr(request, "bridge_log", None)  # this request's entry (others may be answered at the same time)
        if log is not None:
            log["status"] = status
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if body:
            self.bodies.append(json.loads(body))
        request.bridge_log = {"method": request.command}
        self.requests.append(request.bridge_log)
        request.bridge_log.update(
            {
                "method": request.command,
                "path": unquote(parts.path),
                "raw_path": parts.path,
                "query": query,
                "if_none_match": request.headers.get("If-None-Match", ""),
                "authorization": request.headers.get("Authorization", "") or request.headers.get("PRIVATE-TOKEN", ""),
                "accept": request.headers.get("Accept", ""),
            }
        )
        for prefix, location in self.redirects.items():
            if parts.path.startswith(prefix):
                return self._send(request, 302, b"", {"Location": location})
        if self.bad_credentials:  # a revoked or wrong token: GitHub's documented answer
            return self._send(
                request, 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            )
        with self._lock:
            limited = self._limited.pop(0) if self._limited else None
        if limited:
            return self._send_limited(request, limited)
        if not parts.path.startswith(self.prefix + "/"):
            return self._send(request, 404, {"message": "Not Found"})
        path = parts.path[len(self.prefix) :]
        handler = self._github if self.kind == "github" else self._gitlab
        if request.command in ("POST", "DELETE"):
            handler = self._github_write if self.kind == "github" else self._gitlab_write
        try:
            status, body, headers = handler(request, path, query)
        except LookupError:
            status, body, headers = (
                404,
                {"message": "Not Found"} if self.kind == "github" else {"message": "404 Not found"},
                {},
            )
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        etag = headers.get("ETag")
        if etag and request.headers.get("If-None-Match", "") == etag and status == 200:
            keep = {k: v for k, v in headers.items() if k.lower() not in ("content-type",)}
            return self._send(request, 304, b"", {**keep, **self._rate_headers(False)})
        self._send(request, status, body, {**headers, **self._rate_headers(True)})

    def _send_limited(self, request, limited: dict) -> None:
        if self.kind == "gitlab":
            headers = {"Retry-After": str(limited["retry_after"] or 60), "RateLimit-Remaining": "0"}
            return self._send(request, 429, "Retry later", {"Content-Type": "text/plain", **headers})
        recorded = self.limits[limited["kind"]]
        headers = dict(recorded["headers"])
        if limited["kind"] == "primary":
            headers["X-RateLimit-Reset"] = str(int(time.time()) + (limited["retry_after"] or 60))
        elif limited["retry_after"] is not None:
            headers["Retry-After"] = str(limited["retry_after"])
        self._send(request, recorded["status"], recorded["body"], headers)

    # -- shaping objects from the recordings --

    def _page(self, items: list, query: dict, path: str) -> tuple[list, dict]:
        per_page = max(1, min(100, int(query.get("per_page") or (30 if self.kind == "github" else 20))))
        page = max(1, int(query.get("page") or 1))
        pages = max(1, -(-len(items) // per_page))
        chosen = items[(page - 1) * per_page : page * per_page]
        base = {k: v for k, v in query.items() if k != "page"}

        def link(number: int) -> str:
            params = "&".join(f"{k}={quote(str(v))}" for k, v in {**base, "page": number}.items())
            return f"<http://{self.host}{self.prefix}{path}?{params}>"

        links = []
        if page < pages:
            links += [f'{link(page + 1)}; rel="next"', f'{link(pages)}; rel="last"']
        if page > 1:
            links += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        headers = {"Link": ", ".join(links)} if links else {}
        if self.kind == "gitlab":
            headers.update(
                {
                    "x-page": str(page),
                    "x-per-page": str(per_page),
                    "x-total": str(len(items)),
                    "x-total-pages": str(pages),
                    "x-next-page": str(page + 1) if page < pages else "",
                    "x-prev-page": str(page - 1) if page > 1 else "",
                }
            )
        return chosen, headers

    def _etag(self, body) -> str:
        return 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'

    def _web(self) -> str:
        return self.git.base_url

    def github_repository(self, slug: str) -> dict:
        info = self.repos[slug]
        template = json.dumps(self.recorded["repository"]["response"])
        text = (
            template.replace("https://api.github.com", self.api_url)
            .replace("https://github.com", self._web())
            .replace("octokit-fixture-org/hello-world", slug)
        )
        repo = json.loads(text)
        owner, name = slug.split("/", 1)
        repo.update(
            id=info["id"],
            name=name,
            full_name=slug,
            archived=info["archived"],
            default_branch=self.git.default_branch.get(slug, "main"),
            clone_url=self.git.url(slug),
            html_url=f"{self._web()}/{slug}",
        )
        repo["owner"]["login"] = owner
        return repo

    def gitlab_project(self, slug: str) -> dict:
        info = self.repos[slug]
        project = json.loads(json.dumps(self.recorded["project"]))
        namespace, name = slug.rsplit("/", 1)
        project.update(
            id=info["id"],
            name=name,
            path=name,
            path_with_namespace=slug,
            name_with_namespace=slug.replace("/", " / "),
            archived=info["archived"],
            default_branch=self.git.default_branch.get(slug, "main"),
            http_url_to_repo=self.git.url(slug),
            ssh_url_to_repo=f"git@{self.git.host}:{slug}.git",
            web_url=f"{self._web()}/{slug}",
        )
        project["namespace"].update(name=namespace, path=namespace.rsplit("/", 1)[-1], full_path=namespace)
        return project

    def _file(self, slug: str, ref: str, path: str) -> tuple[str, bytes]:
        if slug not in self.repos:
            raise LookupError
        ref = self.git.default_branch.get(slug, "main") if ref in ("", "HEAD") else ref
        files = self.git.files(slug, ref)
        if path not in files:
            raise LookupError
        return files[path]

    # -- creating and deleting repositories --

    def _github_write(self, request, path: str, query: dict):
        segments = [unquote(s) for s in path.strip("/").split("/")]
        body = self.bodies[-1] if request.command == "POST" and self.bodies else {}
        if request.command == "POST" and len(segments) == 3 and segments[0] == "orgs" and segments[2] == "repos":
            slug = f"{segments[1]}/{body.get('name', '')}"
            if slug in self.repos:
                return 422, self.creation["github_validation_failed"]["response"], {}
            self.git.create_empty(slug)
            self.add(slug)
            recorded = self.creation["github_create_repository"]
            template = json.dumps(recorded["response"])
            old = recorded["response"]["full_name"]
            repo = json.loads(
                template.replace("https://api.github.com", self.api_url).replace("https://github.com", self._web())
                .replace(old, slug)
            )  # fmt: skip
            repo.update(id=self.repos[slug]["id"], name=body["name"], full_name=slug, clone_url=self.git.url(slug),
                        html_url=f"{self._web()}/{slug}", description=body.get("description"),
                        private=bool(body.get("private")), visibility=body.get("visibility", "public"))  # fmt: skip
            headers = {k: v for k, v in recorded["headers"].items() if k not in ("Content-Type", "ETag", "Location")}
            return 201, repo, {**headers, "Location": f"{self.api_url}/repos/{slug}"}
        if request.command == "DELETE" and len(segments) == 3 and segments[0] == "repos":
            slug = f"{segments[1]}/{segments[2]}"
            if slug not in self.repos:
                raise LookupError
            self.remove(slug)
            self.git.delete(slug)
            return 204, b"", {}
        raise LookupError

    def _gitlab_write(self, request, path: str, query: dict):
        segments = path.strip("/").split("/")
        body = self.bodies[-1] if request.command == "POST" and self.bodies else {}
        if request.command == "POST" and segments == ["projects"]:
            group = next((p for p, i in self.groups.items() if i == body.get("namespace_id")), None)
            if group is None:
                return 404, {"message": "404 Namespace Not Found"}, {}
            slug = f"{group}/{body.get('path') or body.get('name')}"
            if slug in self.repos:
                return 400, {"message": {"name": ["has already been taken"], "path": ["has already been taken"]}}, {}
            self.git.create_empty(slug, branch=body.get("default_branch") or "main")
            self.add(slug)
            project = self.gitlab_project(slug)
            project.update(description=body.get("description", ""), visibility=body.get("visibility", "private"))
            return self.creation["gitlab_create_project"]["status"], project, {}
        if request.command == "DELETE" and len(segments) == 2 and segments[0] == "projects":
            slug = unquote(segments[1])
            if slug not in self.repos:
                raise LookupError
            self.remove(slug)
            self.git.delete(slug)
            return 202, {"message": "202 Accepted"}, {}
        raise LookupError

    # -- GitHub --

    def _github(self, request, path: str, query: dict):
        segments = [unquote(s) for s in path.strip("/").split("/")]
        recorded = {
            k: v
            for k, v in self.recorded["paginated_page"]["headers"].items()
            if k.startswith(("Cache", "Vary", "X-GitHub-Media"))
        }
        if len(segments) == 3 and segments[0] in ("orgs", "users") and segments[2] == "repos":
            owner = segments[1]
            slugs = sorted((s for s in self.repos if s.split("/", 1)[0] == owner), key=lambda s: self.repos[s]["id"])
            if not slugs and segments[0] == "orgs":
                raise LookupError
            chosen, headers = self._page(slugs, query, path)
            items = [self.github_repository(s) for s in chosen]
            return 200, items, {**recorded, **headers, "ETag": self._etag(items)}
        if len(segments) >= 3 and segments[0] == "repos":
            slug = f"{segments[1]}/{segments[2]}"
            if slug not in self.repos:
                raise LookupError
            rest = segments[3:]
            if not rest:
                body = self.github_repository(slug)
                return 200, body, {**recorded, "ETag": self._etag(body)}
            if rest[0] in ("actions", "deployments"):
                return self._github_ci(slug, rest, query, path)
            if rest[0] == "contents" and len(rest) > 1:
                oid, data = self._file(slug, query.get("ref", ""), "/".join(rest[1:]))
                headers = {
                    k: v
                    for k, v in self.recorded["contents_raw"]["headers"].items()
                    if k.startswith(("Cache", "Vary", "Content-Type", "X-GitHub-Media"))
                }
                return 200, data, {**headers, "ETag": f'"{oid}"'}
            if rest[:2] == ["git", "trees"] and len(rest) == 3:
                ref = rest[2]
                found = self.git.resolve(slug, ref)
                if found is None:
                    raise LookupError
                files = self.git.files(slug, ref)
                tree = [
                    {"path": p, "mode": "100644", "type": "blob", "sha": oid, "size": len(d)}
                    for p, (oid, d) in sorted(files.items())
                ]
                body = {"sha": hashlib.sha1(found[1].encode()).hexdigest(), "tree": tree, "truncated": False}  # noqa: S324
                return 200, body, {**recorded, "ETag": self._etag(body)}
        raise LookupError

    # -- GitLab --

    def _gitlab(self, request, path: str, query: dict):
        raw_segments = path.strip("/").split("/")
        if len(raw_segments) == 2 and raw_segments[0] == "namespaces":
            group = unquote(raw_segments[1])
            if group not in self.groups:
                raise LookupError
            namespace = dict(self.creation["gitlab_namespace"])
            namespace.update(id=self.groups[group], name=group.rsplit("/", 1)[-1], path=group.rsplit("/", 1)[-1],
                             full_path=group)  # fmt: skip
            return 200, namespace, {}
        if len(raw_segments) == 3 and raw_segments[0] == "groups" and raw_segments[2] == "projects":
            group = unquote(raw_segments[1])
            subgroups = query.get("include_subgroups") == "true"
            slugs = [
                s for s in self.repos if s.startswith(group + "/") and (subgroups or "/" not in s[len(group) + 1 :])
            ]
            if not slugs:
                raise LookupError
            if query.get("archived") == "false":
                slugs = [s for s in slugs if not self.repos[s]["archived"]]
            slugs.sort(key=lambda s: self.repos[s]["id"])
            chosen, headers = self._page(slugs, query, path)
            items = [self.gitlab_project(s) for s in chosen]
            return 200, items, {"Cache-Control": "no-cache", "Vary": "Origin", **headers}
        if len(raw_segments) >= 2 and raw_segments[0] == "projects":
            slug = unquote(raw_segments[1])
            if slug not in self.repos:
                raise LookupError
            rest = raw_segments[2:]
            if not rest:
                return 200, self.gitlab_project(slug), {}
            if rest and rest[0] in ("pipelines", "deployments"):
                return self._gitlab_ci(slug, rest, query, path)
            if rest[:2] == ["repository", "files"] and len(rest) >= 3:
                file_path = unquote(rest[2])
                oid, data = self._file(slug, query.get("ref", ""), file_path)
                headers = dict(self.recorded["file_head"]["headers"])
                headers.update(
                    {
                        "X-Gitlab-Blob-Id": oid,
                        "X-Gitlab-File-Path": file_path,
                        "X-Gitlab-File-Name": file_path.rsplit("/", 1)[-1],
                        "X-Gitlab-Size": str(len(data)),
                        "X-Gitlab-Ref": query.get("ref", ""),
                        "X-Gitlab-Content-Sha256": hashlib.sha256(data).hexdigest(),
                    }
                )
                if len(rest) == 4 and rest[3] == "raw":
                    return 200, data, {**headers, "Content-Type": "text/plain; charset=utf-8"}
                import base64

                body = {"file_name": headers["X-Gitlab-File-Name"], "file_path": file_path, "size": len(data),
                        "encoding": "base64", "content": base64.b64encode(data).decode(), "blob_id": oid,
                        "ref": query.get("ref", "")}  # fmt: skip
                return 200, body, headers
            if rest == ["repository", "tree"]:
                files = self.git.files(slug, query.get("ref", "") or self.git.default_branch.get(slug, "main"))
                items = [
                    {"id": oid, "name": p.rsplit("/", 1)[-1], "type": "blob", "path": p, "mode": "100644"}
                    for p, (oid, _d) in sorted(files.items())
                ]
                chosen, headers = self._page(items, query, path)
                return 200, chosen, headers
        raise LookupError
