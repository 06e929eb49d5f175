"""Reading Git repositories over smart HTTP(S) with the real ``git``, under the same rules as the HTTP client.

Before each ``git`` command the URL is checked like any request of :mod:`portal.githosts.httpclient`
(integration, scheme, no credentials in the URL), the host is resolved and its address checked
against the integration, and ``git`` is pinned to that address (``http.curloptResolve``), so DNS
cannot send it elsewhere. ``git`` follows no redirects, speaks only http(s), reads no user or
system configuration, never prompts, and gets the token in a header through its environment
(not its command line). Each command has a time limit; files are read under a size cap.

Repositories are cached as shallow, blob-less partial clones under ``GIT_CACHE_DIR``: a
snapshot downloads a commit's tree, and only the blobs that are read.

Usage::

    repo = RemoteRepository("https://git.example.com/acme/shop.git")
    sha = repo.resolve("main")            # one ls-remote: the commit SHA of a branch or tag
    snap = repo.snapshot(sha)             # fetches the tree (no file contents yet)
    snap.paths()                          # every file path at that commit
    snap.read("catalog-info.yaml")        # bytes, fetched on demand, under the size cap
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from portal.githosts import errors
from portal.githosts.httpclient import GitHostClient
from portal.githosts.integrations import Integration

SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def git_program() -> str:
    """The absolute path of the machine's git (subprocesses never look it up through a shell)."""
    program = shutil.which("git")
    if program is None:
        raise errors.Unavailable("git is not installed on this server; install it to read catalog locations from Git.")
    return program


def _base_environment(home: str) -> dict[str, str]:
    """What every git command here runs with: no user or system configuration, no prompt, C locale."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def local_git(
    *args: str,
    cwd: Path | None = None,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run git on repositories on this server (argument list, never a shell); the caller reads the result.

    It reaches no network: a partial clone does not fetch missing objects lazily, and only ``file``
    remotes are allowed. ``env`` adds variables (a commit's author and date)."""
    with tempfile.TemporaryDirectory(prefix="bridge-git-home-") as home:
        environment = {
            **_base_environment(home),
            "GIT_NO_LAZY_FETCH": "1",
            "GIT_ALLOW_PROTOCOL": "file",
            **(env or {}),
        }
        return subprocess.run(  # noqa: S603 - fixed program, argument list
            [git_program(), *args],
            cwd=cwd,
            env=environment,
            input=input,
            capture_output=True,
            timeout=timeout or _timeout(),
            check=False,
        )


def _timeout() -> float:
    return float(getattr(settings, "GIT_COMMAND_TIMEOUT", 60))


def _cache_root() -> Path:
    root = Path(getattr(settings, "GIT_CACHE_DIR", "") or Path(settings.VAR_DIR) / "git-cache")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _pinned_address(host: str, port: int, integration: Integration) -> str:
    """The first address of ``host`` the integration allows (git is then told to use exactly it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise errors.Unavailable(f"Cannot resolve {host}: {exc.strerror or exc}") from None
    refused = []
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if integration.allows_address(address):
            return f"[{address}]" if address.version == 6 else str(address)
        refused.append(str(address))
    raise errors.AddressRefused(
        f"Refused to connect to {host}: its address {', '.join(sorted(set(refused)))} is loopback, private or "
        "link-local, and the integration does not allow it (allow_private_addresses)."
    )


def init_partial_clone(path: Path, url: str, blob_filter: str) -> None:
    """An empty bare repository at ``path`` whose ``origin`` is ``url``, fetched without (large) blobs."""
    steps = [
        ("init", "--bare", "-q", str(path)),
        ("-C", str(path), "config", "remote.origin.url", url),
        ("-C", str(path), "config", "remote.origin.promisor", "true"),
        ("-C", str(path), "config", "remote.origin.partialclonefilter", blob_filter),
    ]
    for step in steps:
        done = local_git(*step, timeout=30)
        if done.returncode != 0:
            raise errors.Unavailable(f"git could not prepare {path.name}: {done.stderr.decode('utf-8', 'replace')}")


class RemoteRepository:
    """A Git repository reached over smart HTTP(S). See the module docstring."""

    def __init__(self, url: str, *, http: GitHostClient | None = None, integration: Integration | None = None):
        self.url = url
        self.integration = (http or GitHostClient()).check_url(url, integration)
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        self.scheme = parts.scheme.lower()
        self._http = http or GitHostClient()

    # -- running git --

    def _environment(self, home: str) -> dict[str, str]:
        config = [
            ("http.followRedirects", "false"),
            (
                "http.curloptResolve",
                f"{self.host}:{self.port}:{_pinned_address(self.host, self.port, self.integration)}",
            ),
            ("http.lowSpeedLimit", "1000"),
            ("http.lowSpeedTime", "20"),
            ("protocol.allow", "never"),
            ("protocol.http.allow", "always"),
            ("protocol.https.allow", "always"),
            ("protocol.version", "2"),
            ("credential.helper", ""),
            ("core.askPass", ""),
            ("fetch.negotiationAlgorithm", "noop"),
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
        ]
        for name, value in self._http.auth_headers(self.integration, self.url).items():
            if name == "PRIVATE-TOKEN":  # GitLab's Git over HTTP takes the token as a password
                basic = base64.b64encode(f"oauth2:{value}".encode()).decode()
                name, value = "Authorization", f"Basic {basic}"
            elif name == "Authorization" and value.startswith("Bearer "):  # GitHub: x-access-token
                basic = base64.b64encode(f"x-access-token:{value[7:]}".encode()).decode()
                value = f"Basic {basic}"
            config.append(("http.extraHeader", f"{name}: {value}"))
        env = {**_base_environment(home), "GIT_ALLOW_PROTOCOL": "http:https", "GIT_CONFIG_COUNT": str(len(config))}
        for index, (name, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = name
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def git(self, *args: str, cwd: Path | None = None, input: bytes | None = None) -> bytes:
        """Run one git command (argument list, never a shell) and return its output."""
        with tempfile.TemporaryDirectory(prefix="bridge-git-home-") as home:
            try:
                done = subprocess.run(  # noqa: S603 - fixed program, argument list
                    [git_program(), *args],
                    cwd=cwd,
                    env=self._environment(home),
                    input=input,
                    capture_output=True,
                    timeout=_timeout(),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise errors.Unavailable(f"git {args[0]} on {self.host} took longer than {_timeout():.0f} s.") from None
        if done.returncode != 0:
            raise self._error(done.stderr.decode("utf-8", "replace"))
        return done.stdout

    def _error(self, stderr: str) -> errors.GitHostError:
        text = stderr.strip().splitlines()
        last = " ".join(line for line in text[-3:] if line)[:300]
        lower = stderr.lower()
        if "not found" in lower or "does not appear to be a git repository" in lower or " 404" in lower:
            return errors.NotFound(f"{self.url} is not a Git repository Bridge can read ({last}).")
        if "authentication" in lower or " 401" in lower or " 403" in lower:
            return errors.AccessDenied(f"{self.host} refused access; check the integration's token ({last}).")
        if "redirect" in lower or " 30" in lower and "http" in lower:
            return errors.RedirectRefused(f"{self.host} redirected; Bridge does not follow Git redirects ({last}).")
        return errors.Unavailable(f"git could not read {self.url}: {last}")

    # -- refs --

    def refs(self, *patterns: str) -> dict[str, str]:
        """ls-remote: {ref name: sha}, with ``HEAD`` and the branch it points at (``HEAD->``)."""
        output = self.git("ls-remote", "--symref", self.url, *patterns).decode("utf-8", "replace")
        found: dict[str, str] = {}
        for line in output.splitlines():
            if line.startswith("ref: "):
                target, _, name = line[5:].partition("\t")
                found[f"{name}->"] = target
                continue
            sha, _, name = line.partition("\t")
            if SHA.match(sha):
                found[name] = sha
        return found

    def resolve(self, ref: str) -> str:
        """The commit SHA of a branch, tag or ``HEAD`` (a SHA is returned as it is)."""
        if SHA.match(ref):
            return ref
        refs = self.refs("HEAD" if ref == "HEAD" else ref)
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
            if name in refs:
                return refs[name]
        raise errors.NotFound(f"{self.url} has no branch or tag named {ref!r}.")

    def default_branch(self) -> str:
        target = self.refs("HEAD").get("HEAD->", "")
        return target.removeprefix("refs/heads/")

    # -- content --

    @property
    def cache_dir(self) -> Path:
        return _cache_root() / (hashlib.sha256(self.url.encode()).hexdigest()[:32] + ".git")

    @contextmanager
    def _locked(self):
        path = self.cache_dir
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            init_partial_clone(path, self.url, "blob:none")
        with open(path / "bridge.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def snapshot(self, sha: str) -> Snapshot:
        """The tree of commit ``sha`` (fetched once, without file contents)."""
        if not SHA.match(sha):
            raise ValueError("snapshot() takes a commit SHA; resolve() the ref first")
        with self._locked() as path:
            have = local_git("-C", str(path), "cat-file", "-e", f"{sha}^{{tree}}")
            if have.returncode != 0:
                self.git(
                    "-C", str(path), "fetch", "-q", "--no-tags", "--depth=1", "--filter=blob:none",
                    "--no-write-fetch-head", "origin", sha,
                )  # fmt: skip
            listing = self.git("-C", str(path), "ls-tree", "-r", "-z", "--full-tree", sha)
        files: dict[str, str] = {}
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            mode, kind, oid = meta.decode().split(" ")
            if kind == "blob" and mode != "120000":  # files, not symbolic links
                files[name.decode("utf-8", "replace")] = oid
        return Snapshot(self, sha, files)


class Snapshot:
    """The files of one commit; contents are fetched when first read."""

    def __init__(self, repository: RemoteRepository, sha: str, files: dict[str, str]):
        self.repository = repository
        self.sha = sha
        self.files = files

    def paths(self) -> list[str]:
        return sorted(self.files)

    def blob_id(self, path: str) -> str | None:
        return self.files.get(path)

    def read_many(self, paths: list[str], *, max_bytes: int | None = None) -> dict[str, bytes]:
        """The contents of several files at once (one fetch for the missing ones)."""
        limit = max_bytes or int(getattr(settings, "GIT_HTTP_MAX_BYTES", 10 * 1024 * 1024))
        wanted = {path: self.files[path] for path in paths if path in self.files}
        missing = [p for p in paths if p not in self.files]
        if missing:
            raise errors.NotFound(f"{missing[0]} does not exist at {self.sha[:12]}.")
        repo = self.repository
        with repo._locked() as path:
            check = "\n".join(sorted(set(wanted.values()))).encode() + b"\n"
            absent = [
                oid
                for oid in sorted(set(wanted.values()))
                if local_git("-C", str(path), "cat-file", "-e", oid).returncode
            ]
            if absent:
                repo.git("-C", str(path), "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--filter=blob:none",
                         "origin", *absent)  # fmt: skip
            sizes = local_git("-C", str(path), "cat-file", "--batch-check", input=check).stdout.decode()
            for line in sizes.splitlines():
                oid, _kind, size = (line.split() + ["", ""])[:3]
                if size.isdigit() and int(size) > limit:
                    name = next(p for p, o in wanted.items() if o == oid)
                    raise errors.TooLarge(f"{name} is larger than {limit} bytes.")
            out = {}
            for name, oid in wanted.items():
                blob = local_git("-C", str(path), "cat-file", "blob", oid)
                if blob.returncode != 0:
                    raise errors.Unavailable(
                        f"git could not read {name}: {blob.stderr.decode('utf-8', 'replace')[-300:]}"
                    )
                out[name] = blob.stdout
        return out

    def read(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return self.read_many([path], max_bytes=max_bytes)[path]
