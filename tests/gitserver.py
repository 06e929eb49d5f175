"""A real Git server for tests: bare repositories served over smart HTTP by ``git http-backend``.

    server = GitServer(tmp_path).start()
    sha = server.commit("acme/shop", {"catalog-info.yaml": "..."})     # creates the repository
    server.url("acme/shop")                                            # http://127.0.0.1:PORT/acme/shop.git
    server.commit("acme/shop", {"old.yaml": None, "new.yaml": "..."})  # None deletes a file
    server.redirect("/moved/", "http://elsewhere.example/")            # answer 302 below a path
    server.create_empty("acme/new")                                    # an empty repository that takes pushes
    server.stop()

Repositories are written with ``git fast-import`` (one process per commit). The server also
keeps what each branch holds in memory (``files(repo, ref)``: {path: (blob id, bytes)}), so a
simulated REST API (tests/githost_api.py) can answer from the same repositories without running
``git`` per request. Other apps' tests can use it as it is (a pytest fixture ``git_server`` is in
tests/conftest.py). It binds 127.0.0.1 on a free port; requests are logged in ``requests``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

COMMITTER = "Bridge Tests <tests@example.com>"


def blob_id(content: bytes) -> str:
    """The id git gives a blob with this content (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324 - git's own id


class GitServer:
    def __init__(self, root: Path):
        self.root = Path(root) / "git-server"
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[dict] = []
        self.redirects: dict[str, str] = {}
        self.branches: dict[tuple[str, str], str] = {}  # (repo, branch) -> commit sha
        self.contents: dict[tuple[str, str], dict[str, tuple[str, bytes]]] = {}  # (repo, branch) -> files
        self.default_branch: dict[str, str] = {}
        self._lock = threading.Lock()
        self._template: Path | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._clock = 1_700_000_000

    # -- serving --

    def start(self) -> GitServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # keep-alive: the body must not wait for the delayed ACK (40 ms)

            def log_message(self, *args):
                pass

            def _serve(self):
                server._handle(self)

            do_GET = do_POST = do_HEAD = _serve

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
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def url(self, repo: str) -> str:
        return f"{self.base_url}/{repo}.git"

    def redirect(self, prefix: str, location: str) -> None:
        self.redirects[prefix] = location

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        self.requests.append(
            {"method": request.command, "path": parts.path, "authorization": request.headers.get("Authorization", "")}
        )
        for prefix, location in self.redirects.items():
            if parts.path.startswith(prefix):
                request.send_response(302)
                request.send_header(
                    "Location", location + parts.path[len(prefix) :] + (f"?{parts.query}" if parts.query else "")
                )
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "HOME": str(self.root),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)  # noqa: S603, S607
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _ and b"\n\n" in done.stdout:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        request.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                request.send_header(name, value)
        # What a push wrote is read back before git hears it succeeded, as a host's API sees a push
        # once it has returned (afterwards, a client that reads at once raced the reload).
        if request.command == "POST" and parts.path.endswith("/git-receive-pack"):
            self._reload(parts.path.strip("/").removesuffix("/git-receive-pack").removesuffix(".git"))
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)

    # -- writing repositories --

    def _bare(self, repo: str) -> Path:
        path = self.root / f"{repo}.git"
        if not (path / "HEAD").exists():
            with self._lock:
                if self._template is None:
                    template = self.root / ".template.git"
                    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(template)], check=True)  # noqa: S603, S607
                    for key, value in (
                        ("uploadpack.allowFilter", "true"),
                        ("uploadpack.allowAnySHA1InWant", "true"),
                        ("http.receivepack", "false"),
                    ):
                        subprocess.run(["git", "-C", str(template), "config", key, value], check=True)  # noqa: S603, S607
                    self._template = template
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(self._template, path)
        return path

    def commit(self, repo: str, files: dict[str, str | bytes | None], *, branch: str = "", message: str = "") -> str:
        """Commit changes to ``branch`` (default: the repository's default branch, ``main`` for a new one).

        ``files`` maps paths to their new content, or None to delete them; other files stay.
        Returns the new commit's SHA.
        """
        path = self._bare(repo)
        branch = branch or self.default_branch.setdefault(repo, "main")
        self.default_branch.setdefault(repo, branch)
        key = (repo, branch)
        current = dict(self.contents.get(key, {}))
        for name, content in files.items():
            if content is None:
                current.pop(name, None)
            else:
                data = content.encode() if isinstance(content, str) else content
                current[name] = (blob_id(data), data)
        self._clock += 60
        text = (message or f"Update {', '.join(sorted(files))[:60]}").encode()
        stream = [f"commit refs/heads/{branch}\n".encode(), f"committer {COMMITTER} {self._clock} +0000\n".encode()]
        stream.append(b"data %d\n%s\n" % (len(text), text))
        parent = self.branches.get(key)
        if parent:
            stream.append(f"from {parent}\n".encode())
        stream.append(b"deleteall\n")
        for name, (_oid, data) in sorted(current.items()):
            stream.append(f"M 100644 inline {name}\n".encode())
            stream.append(b"data %d\n%s\n" % (len(data), data))
        stream.append(b"done\n")
        subprocess.run(  # noqa: S603, S607
            ["git", "-C", str(path), "fast-import", "--quiet", "--done", "--force"],
            input=b"".join(stream),
            check=True,
            capture_output=True,
        )
        sha = (path / "refs" / "heads" / branch).read_text().strip()
        self.branches[key] = sha
        self.contents[key] = current
        if self.default_branch.get(repo) == branch:
            (path / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
        return sha

    def create_empty(self, repo: str, *, branch: str = "main") -> Path:
        """A bare repository without commits that accepts pushes (as a host's new repository does)."""
        path = self._bare(repo)
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)  # noqa: S603, S607
        (path / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
        self.default_branch[repo] = branch
        return path

    def _reload(self, repo: str) -> None:
        """Read back what a push wrote (branches and files), so the simulated APIs see it."""
        path = self.root / f"{repo}.git"
        refs = subprocess.run(  # noqa: S603, S607
            ["git", "-C", str(path), "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/heads"],
            capture_output=True, check=True, text=True,
        ).stdout.split("\n")  # fmt: skip
        for line in filter(None, refs):
            sha, branch = line.split(" ", 1)
            listing = subprocess.run(  # noqa: S603, S607
                ["git", "-C", str(path), "ls-tree", "-r", "-z", sha], capture_output=True, check=True
            ).stdout
            files = {}
            for entry in filter(None, listing.split(b"\0")):
                meta, _, name = entry.partition(b"\t")
                oid = meta.split()[2].decode()
                data = subprocess.run(  # noqa: S603, S607
                    ["git", "-C", str(path), "cat-file", "blob", oid], capture_output=True, check=True
                ).stdout
                files[name.decode()] = (oid, data)
            with self._lock:
                self.branches[(repo, branch)] = sha
                self.contents[(repo, branch)] = files

    def set_default_branch(self, repo: str, branch: str) -> None:
        self.default_branch[repo] = branch
        (self._bare(repo) / "HEAD").write_text(f"ref: refs/heads/{branch}\n")

    def delete(self, repo: str) -> None:
        shutil.rmtree(self.root / f"{repo}.git", ignore_errors=True)
        for key in [k for k in self.branches if k[0] == repo]:
            self.branches.pop(key)
            self.contents.pop(key, None)
        self.default_branch.pop(repo, None)

    # -- reading (for the simulated APIs) --

    def repositories(self) -> list[str]:
        return sorted(self.default_branch)

    def resolve(self, repo: str, ref: str) -> tuple[str, str] | None:
        """(branch, sha) for a branch name or a commit SHA of a branch tip; None if unknown."""
        if (repo, ref) in self.branches:
            return ref, self.branches[(repo, ref)]
        for (name, branch), sha in self.branches.items():
            if name == repo and sha == ref:
                return branch, sha
        return None

    def files(self, repo: str, ref: str) -> dict[str, tuple[str, bytes]]:
        found = self.resolve(repo, ref)
        return self.contents.get((repo, found[0]), {}) if found else {}

    def wait_idle(self, seconds: float = 0.2) -> None:
        time.sleep(seconds)
