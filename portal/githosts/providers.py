"""GitHub's and GitLab's REST APIs, and plain Git, behind one small interface.

``host_for(integration)`` gives an object with:

* ``read_file(repo, ref, path, known="")`` -> :class:`FileRead`: the text, or ``changed=False``
  when the file is still the version ``known`` (a token this method returned before: GitHub's
  ETag with ``If-None-Match``; GitLab's blob id from a ``HEAD`` request; a blob id for plain Git);
* ``list_files(repo, ref)`` -> {path: blob id} at that ref (for globs);
* ``repositories(owner)`` -> every repository of a GitHub organisation (or user) or a GitLab
  group with its subgroups, with default branch and archived flag;
* ``default_branch(repo)``.

All requests go through :mod:`portal.githosts.httpclient` (and :mod:`portal.githosts.git`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from portal.githosts import errors
from portal.githosts.httpclient import GitHostClient, client
from portal.githosts.integrations import Integration, integration_for_url

GITHUB_RAW = "application/vnd.github.raw"
GITHUB_JSON = "application/vnd.github+json"


@dataclass(frozen=True)
class Repository:
    """A repository on a configured host. ``slug``: owner/name (GitHub) or group/.../project (GitLab)."""

    integration: Integration
    slug: str
    clone_url: str
    web_url: str = ""
    default_branch: str = ""
    archived: bool = False

    @property
    def name(self) -> str:
        return self.slug.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FileRead:
    changed: bool
    text: str = ""
    version: str = ""  # pass back as ``known`` next time


@dataclass(frozen=True)
class FileURL:
    """A file named by a GitHub or GitLab ``blob`` URL."""

    repository: Repository
    ref: str
    path: str


def _decode(body: bytes, path: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.GitHostError(f"{path} is not UTF-8 text.") from None


def _web_base(integration: Integration, url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def repository_from_url(url: str) -> Repository:
    """A repository from its web or clone URL (``https://host/owner/name(.git)``) on a configured host."""
    integration = client().check_url(url)
    parts = urlsplit(url)
    slug = parts.path.strip("/").removesuffix(".git")
    if "/-/" in slug:
        slug = slug.split("/-/")[0]
    if not slug or ".." in slug.split("/"):
        raise errors.Refused("The URL names no repository.")
    base = _web_base(integration, url)
    return Repository(
        integration=integration,
        slug=slug,
        clone_url=f"{base}/{slug}.git" if integration.type != "git" else url,
        web_url=f"{base}/{slug}",
    )


_GITHUB_BLOB = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/blob/(?P<ref>[^/]+)/(?P<path>.+)$")
_GITLAB_BLOB = re.compile(r"^/(?P<project>.+?)/-/blob/(?P<ref>[^/]+)/(?P<path>.+)$")


def parse_file_url(url: str) -> FileURL:
    """A GitHub (``/owner/repo/blob/REF/PATH``) or GitLab (``/group/project/-/blob/REF/PATH``) file URL.

    A ref with a slash in it cannot be told from the path in such URLs; register those as a
    repository with ``--ref`` and ``--path`` instead.
    """
    integration = client().check_url(url)
    parts = urlsplit(url)
    path = parts.path
    from urllib.parse import unquote

    if integration.type == "github":
        match = _GITHUB_BLOB.match(path)
        if not match:
            raise errors.Refused("A GitHub file URL looks like https://github.com/OWNER/REPO/blob/REF/PATH.")
        slug = f"{match['owner']}/{match['repo']}"
    elif integration.type == "gitlab":
        match = _GITLAB_BLOB.match(path)
        if not match:
            raise errors.Refused(
                "A GitLab file URL looks like https://gitlab.example.com/GROUP/PROJECT/-/blob/REF/PATH."
            )
        slug = match["project"]
    else:
        raise errors.Refused(
            f"{integration.host} is a plain Git host: register the repository, ref and path (--repository, --ref, "
            "--path) instead of a file URL."
        )
    base = _web_base(integration, url)
    repository = Repository(
        integration=integration, slug=slug, clone_url=f"{base}/{slug}.git", web_url=f"{base}/{slug}"
    )
    return FileURL(repository=repository, ref=unquote(match["ref"]), path=unquote(match["path"]))


class GitHub:
    def __init__(self, integration: Integration, http: GitHostClient | None = None):
        self.integration = integration
        self.http = http or client()
        self.api = integration.api_url

    def _repo_url(self, repo: Repository) -> str:
        return f"{self.api}/repos/{quote(repo.slug, safe='/')}"

    def read_file(self, repo: Repository, ref: str, path: str, known: str = "") -> FileRead:
        url = f"{self._repo_url(repo)}/contents/{quote(path)}?ref={quote(ref, safe='')}"
        response = self.http.get(url, etag=known, accept=GITHUB_RAW, integration=self.integration)
        if response.not_modified:
            return FileRead(changed=False, version=known)
        return FileRead(changed=True, text=_decode(response.body, path), version=response.etag)

    def list_files(self, repo: Repository, ref: str) -> dict[str, str]:
        url = f"{self._repo_url(repo)}/git/trees/{quote(ref, safe='')}?recursive=1"
        data = self.http.get(url, accept=GITHUB_JSON, integration=self.integration).json()
        if data.get("truncated"):
            raise errors.TooLarge(f"{repo.slug} has too many files for GitHub to list; name files, not patterns.")
        return {item["path"]: item["sha"] for item in data.get("tree", []) if item.get("type") == "blob"}

    def default_branch(self, repo: Repository) -> str:
        response = self.http.get(self._repo_url(repo), accept=GITHUB_JSON, integration=self.integration)
        return response.json().get("default_branch") or "main"

    def repositories(self, owner: str) -> Iterator[Repository]:
        url = f"{self.api}/orgs/{quote(owner, safe='')}/repos?per_page=100&type=all"
        try:
            pages = list(self.http.paginate(url, accept=GITHUB_JSON, integration=self.integration))
        except errors.NotFound:  # a user account, not an organisation
            pages = list(
                self.http.paginate(
                    f"{self.api}/users/{quote(owner, safe='')}/repos?per_page=100",
                    accept=GITHUB_JSON,
                    integration=self.integration,
                )
            )
        for page in pages:
            for item in page.json():
                yield Repository(
                    integration=self.integration,
                    slug=item["full_name"],
                    clone_url=item.get("clone_url") or "",
                    web_url=item.get("html_url") or "",
                    default_branch=item.get("default_branch") or "",
                    archived=bool(item.get("archived")),
                )


class GitLab:
    def __init__(self, integration: Integration, http: GitHostClient | None = None):
        self.integration = integration
        self.http = http or client()
        self.api = integration.api_url

    def _project_url(self, repo: Repository) -> str:
        return f"{self.api}/projects/{quote(repo.slug, safe='')}"

    def read_file(self, repo: Repository, ref: str, path: str, known: str = "") -> FileRead:
        url = f"{self._project_url(repo)}/repository/files/{quote(path, safe='')}"
        query = f"?ref={quote(ref, safe='')}"
        if known:
            head = self.http.head(url + query, integration=self.integration)
            if head.headers.get("X-Gitlab-Blob-Id", "") == known:
                return FileRead(changed=False, version=known)
        response = self.http.get(f"{url}/raw{query}", integration=self.integration)
        version = (
            response.headers.get("X-Gitlab-Blob-Id", "")
            or hashlib.sha1(response.body, usedforsecurity=False).hexdigest()
        )
        return FileRead(changed=version != known, text=_decode(response.body, path), version=version)

    def list_files(self, repo: Repository, ref: str) -> dict[str, str]:
        url = f"{self._project_url(repo)}/repository/tree?ref={quote(ref, safe='')}&recursive=true&per_page=100"
        files = {}
        for page in self.http.paginate(url, integration=self.integration):
            for item in page.json():
                if item.get("type") == "blob":
                    files[item["path"]] = item.get("id", "")
        return files

    def default_branch(self, repo: Repository) -> str:
        response = self.http.get(self._project_url(repo), integration=self.integration)
        return response.json().get("default_branch") or "main"

    def repositories(self, owner: str) -> Iterator[Repository]:
        query = "include_subgroups=true&per_page=100&order_by=id&sort=asc"
        url = f"{self.api}/groups/{quote(owner, safe='')}/projects?{query}"
        for page in self.http.paginate(url, integration=self.integration):
            for item in page.json():
                yield Repository(
                    integration=self.integration,
                    slug=item["path_with_namespace"],
                    clone_url=item.get("http_url_to_repo") or "",
                    web_url=item.get("web_url") or "",
                    default_branch=item.get("default_branch") or "",
                    archived=bool(item.get("archived")),
                )


class PlainGit:
    """A host without an API: files are read from the commit with ``git``."""

    def __init__(self, integration: Integration, http: GitHostClient | None = None):
        self.integration = integration
        self.http = http or client()

    def remote(self, repo: Repository):
        from portal.githosts.git import RemoteRepository

        return RemoteRepository(repo.clone_url, http=self.http, integration=self.integration)

    def read_file(self, repo: Repository, ref: str, path: str, known: str = "") -> FileRead:
        remote = self.remote(repo)
        snapshot = remote.snapshot(remote.resolve(ref))
        blob = snapshot.blob_id(path)
        if blob is None:
            raise errors.NotFound(f"{path} does not exist at {ref}.")
        if blob == known:
            return FileRead(changed=False, version=known)
        return FileRead(changed=True, text=_decode(snapshot.read(path), path), version=blob)

    def list_files(self, repo: Repository, ref: str) -> dict[str, str]:
        remote = self.remote(repo)
        return dict(remote.snapshot(remote.resolve(ref)).files)

    def default_branch(self, repo: Repository) -> str:
        return self.remote(repo).default_branch() or "main"

    def repositories(self, owner: str) -> Iterator[Repository]:
        raise errors.Refused("A plain Git host cannot list repositories; use a GitHub or GitLab integration.")


def host_for(integration: Integration, http: GitHostClient | None = None):
    """The API of an integration's host: GitHub, GitLab or PlainGit."""
    return {"github": GitHub, "gitlab": GitLab}.get(integration.type, PlainGit)(integration, http)


def host_for_url(url: str, http: GitHostClient | None = None):
    integration = integration_for_url(url)
    if integration is None:
        (http or client()).check_url(url)  # raises with the reason
    return host_for(integration, http)
