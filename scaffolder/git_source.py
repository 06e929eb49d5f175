"""Software templates kept in a Git repository (a folder at a ref), read through the Git integrations.

The folder is fetched with the real ``git`` through ``RemoteRepository`` (configured hosts only,
address pinned, token in a header), shallow and with ``--filter=blob:limit``: the host never sends a
file larger than the template cap, so such a file is refused without being downloaded. Symbolic
links and submodules are refused from the tree listing. The files are then written to a temporary
folder and checked by ``sandbox.load_template`` like any other template.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from portal.githosts import errors
from portal.githosts.git import RemoteRepository, init_partial_clone, local_git
from scaffolder import sandbox

GIT_TIMEOUT = 120


def _local(args: list[str], *, repo: Path) -> subprocess.CompletedProcess:
    return local_git("-C", str(repo), *args, timeout=GIT_TIMEOUT)


def fetch_template(url: str, ref: str, path: str, work: Path) -> Path:
    """Fetch ``path`` of ``url`` at ``ref`` into ``work``; returns the template folder. Raises TemplateRefused."""
    folder = sandbox.safe_relative((path or "").strip("/"), what=f"{url} path") if path.strip("/") else ""
    try:
        remote = RemoteRepository(url)
        sha = remote.resolve(ref or "HEAD")
        bare = work / "repo.git"
        init_partial_clone(bare, url, f"blob:limit={sandbox.MAX_FILE_BYTES}")
        remote.git("-C", str(bare), "fetch", "-q", "--no-tags", "--depth=1",
                   f"--filter=blob:limit={sandbox.MAX_FILE_BYTES}", "--no-write-fetch-head", "origin", sha)  # fmt: skip
    except errors.GitHostError as exc:
        raise sandbox.TemplateRefused(f"{url}: {exc}") from None
    listing = _local(["ls-tree", "-r", "-z", "--full-tree", sha, *([f"{folder}/"] if folder else [])], repo=bare)
    if listing.returncode != 0:
        raise sandbox.TemplateRefused(f"{url} has no folder {folder!r} at {ref}.")
    target = work / "template"
    target.mkdir()
    entries = [entry for entry in listing.stdout.split(b"\0") if entry]
    if len(entries) > sandbox.MAX_FILES + 10:  # the descriptor and copier.yml besides the files
        raise sandbox.TemplateRefused(f"The template has more than {sandbox.MAX_FILES} files.")
    for entry in entries:
        meta, _, raw_name = entry.partition(b"\t")
        mode, kind, oid = meta.decode().split(" ")
        name = raw_name.decode("utf-8", "replace")
        relative = name[len(folder) + 1 :] if folder else name
        if mode == "120000":
            raise sandbox.TemplateRefused(f"{relative} is a symbolic link; templates may not hold links.")
        if kind != "blob":
            raise sandbox.TemplateRefused(f"{relative} is a submodule; templates hold files only.")
        if _local(["cat-file", "-e", oid], repo=bare).returncode != 0:  # filtered out by the host: too large
            raise sandbox.TemplateRefused(
                f"{relative} is larger than {sandbox.MAX_FILE_BYTES:,} bytes; it was not downloaded."
            )
        destination = target / sandbox.safe_relative(relative, what=relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(_local(["cat-file", "blob", oid], repo=bare).stdout)
    return target
