"""Creating repositories on GitHub and GitLab, and pushing a first commit with the real ``git``.

Every request to a Git host goes through :mod:`portal.githosts` (configured hosts only, token
from the integration, no redirects for requests with a body); ``git push`` runs through
``RemoteRepository.git`` (address pinned, no prompts, token in a header). A local target is a
bare repository in ``SCAFFOLDER_LOCAL_GIT_ROOT`` on the portal's own disk (the offline demo).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from portal.githosts import errors
from portal.githosts.git import RemoteRepository, local_git
from portal.githosts.httpclient import client
from portal.githosts.integrations import Integration

GITHUB_JSON = "application/vnd.github+json"
GIT_TIMEOUT = 60


class PublishError(Exception):
    """A step cannot go on; ``permanent``: retrying will not help until someone changes something."""

    def __init__(self, message: str, *, permanent: bool = True):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Created:
    slug: str
    clone_url: str
    web_url: str
    created: bool  # False: an empty repository that existed already was used


def _host_error(exc: errors.GitHostError) -> PublishError:
    return PublishError(str(exc), permanent=exc.permanent)


def _empty(clone_url: str, integration: Integration) -> bool:
    """True when the repository has no branches yet."""
    refs = RemoteRepository(clone_url, integration=integration).refs()
    return not any(name.startswith("refs/heads/") for name in refs)


def create_github(integration: Integration, *, owner: str, name: str, description: str, visibility: str) -> Created:
    """``POST /orgs/{owner}/repos``; a name that exists already is used only if that repository is empty."""
    api = integration.api_url
    body = {
        "name": name,
        "description": description[:350],
        "private": visibility != "public",
        "visibility": visibility,
        "auto_init": False,
    }
    try:
        response = client().request(
            "POST",
            f"{api}/orgs/{quote(owner, safe='')}/repos",
            accept=GITHUB_JSON,
            json_body=body,
            allow_statuses=(422,),
            integration=integration,
        )
        if response.status == 422:
            existing = (
                client()
                .get(
                    f"{api}/repos/{quote(owner, safe='')}/{quote(name, safe='')}",
                    accept=GITHUB_JSON,
                    integration=integration,
                )
                .json()
            )
            clone_url = existing.get("clone_url") or ""
            if not clone_url or not _empty(clone_url, integration):
                raise PublishError(
                    f"{owner}/{name} exists already on {integration.host} and holds commits; choose another name."
                )
            return Created(
                existing.get("full_name") or f"{owner}/{name}", clone_url, existing.get("html_url") or "", False
            )
        data = response.json()
    except errors.GitHostError as exc:
        raise _host_error(exc) from None
    return Created(data.get("full_name") or f"{owner}/{name}", data["clone_url"], data.get("html_url") or "", True)


def create_gitlab(
    integration: Integration, *, owner: str, name: str, description: str, visibility: str, default_branch: str
) -> Created:
    """``GET /namespaces/{group}`` for its id, then ``POST /projects`` in it."""
    api = integration.api_url
    try:
        namespace = client().get(f"{api}/namespaces/{quote(owner, safe='')}", integration=integration).json()
        response = client().request(
            "POST",
            f"{api}/projects",
            json_body={
                "name": name,
                "path": name,
                "namespace_id": namespace["id"],
                "description": description[:2000],
                "visibility": visibility,
                "initialize_with_readme": False,
                "default_branch": default_branch,
            },
            allow_statuses=(400,),
            integration=integration,
        )
        if response.status == 400:
            slug = f"{owner}/{name}"
            existing = client().get(f"{api}/projects/{quote(slug, safe='')}", integration=integration).json()
            clone_url = existing.get("http_url_to_repo") or ""
            if not clone_url or not _empty(clone_url, integration):
                raise PublishError(
                    f"{slug} exists already on {integration.host} and holds commits; choose another name."
                )
            return Created(slug, clone_url, existing.get("web_url") or "", False)
        data = response.json()
    except errors.GitHostError as exc:
        raise _host_error(exc) from None
    return Created(data["path_with_namespace"], data["http_url_to_repo"], data.get("web_url") or "", True)


def delete_github(integration: Integration, slug: str) -> None:
    try:
        client().request("DELETE", f"{integration.api_url}/repos/{slug}", accept=GITHUB_JSON, integration=integration)
    except errors.GitHostError as exc:
        raise _host_error(exc) from None


def delete_gitlab(integration: Integration, slug: str) -> None:
    try:
        client().request("DELETE", f"{integration.api_url}/projects/{quote(slug, safe='')}", integration=integration)
    except errors.GitHostError as exc:
        raise _host_error(exc) from None


# --- local repositories (the offline demo) ---------------------------------------------------------


def local_root() -> Path | None:
    root = getattr(settings, "SCAFFOLDER_LOCAL_GIT_ROOT", "") or ""
    return Path(root).resolve() if root else None


def _git(args: list[str], *, cwd: Path | None = None, env: dict | None = None) -> str:
    done = local_git(*args, cwd=cwd, env=env, timeout=GIT_TIMEOUT)
    if done.returncode != 0:
        raise PublishError(
            f"git {args[0]} failed: {done.stderr.decode('utf-8', 'replace').strip()[-300:]}", permanent=False
        )
    return done.stdout.decode("utf-8", "replace")


def create_local(name: str, *, branch: str = "main") -> Created:
    root = local_root()
    if root is None:
        raise PublishError("No local Git folder is configured (SCAFFOLDER_LOCAL_GIT_ROOT).")
    path = (root / f"{name}.git").resolve()
    if path.parent != root:
        raise PublishError("The repository name leaves the local Git folder.")
    created = not (path / "HEAD").exists()
    if created:
        root.mkdir(parents=True, exist_ok=True)
        _git(["init", "--bare", "-q", "-b", branch, str(path)])
    elif _git(["-C", str(path), "for-each-ref", "refs/heads"]).strip():
        raise PublishError(f"The local repository {name}.git exists already and holds commits; choose another name.")
    return Created(name, str(path), "", created)


def delete_local(clone_url: str) -> None:
    import shutil

    root = local_root()
    path = Path(clone_url).resolve()
    if root is None or path.parent != root or not path.name.endswith(".git"):
        raise PublishError("Bridge removes only repositories it created in the local Git folder.")
    shutil.rmtree(path, ignore_errors=True)


# --- the first commit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def commit_files(
    workdir: Path, files: dict[str, bytes], *, branch: str, author: Person, committer: Person, date: str, message: str
) -> str:
    """Write ``files`` into a new repository in ``workdir`` and commit them; returns the commit SHA.

    The dates are fixed (the run's creation time), so the same files give the same SHA when a
    step is retried: a push that already happened is recognised, not repeated.
    """
    _git(["init", "-q", "-b", branch, str(workdir)])
    for path, data in files.items():
        target = (workdir / path).resolve()
        if not str(target).startswith(str(workdir.resolve()) + os.sep):
            raise PublishError(f"{path} leaves the output folder.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    _git(["add", "-A"], cwd=workdir)
    env = {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": date,
    }
    _git(
        ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false", "commit", "-q", "-m", message],
        cwd=workdir,
        env=env,
    )
    return _git(["rev-parse", "HEAD"], cwd=workdir).strip()


def push(workdir: Path, *, clone_url: str, branch: str, sha: str, local: bool) -> bool:
    """Push ``sha`` to ``branch``; False when the branch holds exactly that commit already."""
    ref = f"refs/heads/{branch}"
    if local:
        current = _git(["-C", clone_url, "for-each-ref", "--format=%(objectname)", ref]).strip()
        if current == sha:
            return False
        if current:
            raise PublishError(f"The branch {branch} holds other commits; Bridge does not overwrite them.")
        _git(["push", "-q", clone_url, f"{sha}:{ref}"], cwd=workdir)
        return True
    try:
        remote = RemoteRepository(clone_url)
        current = remote.refs(ref).get(ref, "")
        if current == sha:
            return False
        if current:
            raise PublishError(f"The branch {branch} holds other commits; Bridge does not overwrite them.")
        remote.git("push", "-q", clone_url, f"{sha}:{ref}", cwd=workdir)
    except errors.GitHostError as exc:
        raise _host_error(exc) from None
    return True
