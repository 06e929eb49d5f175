"""Templates kept in a Git repository, read with git over smart HTTP from the real Git server."""

import os
import subprocess

import pytest

from scaffolder import services
from scaffolder.models import SoftwareTemplate
from tests.scaffolder.conftest import SHIPPED


def _files(prefix: str) -> dict[str, bytes]:
    found = {}
    for path in SHIPPED.rglob("*"):
        if path.is_file():
            found[f"{prefix}/{path.relative_to(SHIPPED).as_posix()}"] = path.read_bytes()
    return found


@pytest.fixture
def plain_git(git_server, git_integrations):
    git_integrations([{"type": "git", "host": git_server.host, "allow_private_addresses": True}])
    return git_server


def _use(settings, url, path, ref="main"):
    import json

    settings.SCAFFOLDER_TEMPLATE_REPOSITORIES = json.dumps([{"url": url, "ref": ref, "path": path}])


@pytest.mark.django_db
def test_a_template_folder_in_a_git_repository_is_published(plain_git, settings):
    files = {p: d.replace(b"name: python-service", b"name: python-from-git") for p, d in _files("python").items()}
    plain_git.commit("acme/golden-paths", {**files, "README.md": "Our golden paths."})
    _use(settings, plain_git.url("acme/golden-paths"), "python")
    results = {r.name: r for r in services.templates_reload(actor=None)}
    assert results["python-from-git"].status == "published", results["python-from-git"].message
    template = SoftwareTemplate.objects.get(name="python-from-git")
    assert "catalog-info.yaml.jinja" in template.files and "README.md" not in template.files
    assert template.source_path == f"{plain_git.url('acme/golden-paths')}@main:python"


def _push(git_server, repo, tmp_path, build):
    """Make a commit locally (what GitServer.commit cannot: links, big files) and push it."""
    git_server.create_empty(repo)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)  # noqa: S603, S607
    build(work)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)  # noqa: S603, S607
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "x"], check=True, env=env)  # noqa: S603, S607
    subprocess.run(
        ["git", "-c", "http.postBuffer=16777216", "-C", str(work), "push", "-q", git_server.url(repo), "main"],
        check=True,
        env=env,
    )  # noqa: S603, S607


def _template_at(work, name="evil"):
    for path, data in _files(name).items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data.replace(b"name: python-service", f"name: {name}".encode()))


@pytest.mark.django_db
def test_a_symbolic_link_in_the_repository_is_refused(plain_git, settings, tmp_path):
    def build(work):
        _template_at(work)
        os.symlink("/etc/passwd", work / "evil" / "skeleton" / "passwd")

    _push(plain_git, "acme/evil", tmp_path, build)
    _use(settings, plain_git.url("acme/evil"), "evil")
    results = {r.name: r for r in services.templates_reload(actor=None)}
    assert results["evil"].status == "refused"
    assert "skeleton/passwd is a symbolic link" in results["evil"].message


@pytest.mark.django_db
def test_a_file_over_the_cap_is_refused_without_being_downloaded(plain_git, settings, tmp_path):
    def build(work):
        _template_at(work)
        (work / "evil" / "skeleton" / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))

    _push(plain_git, "acme/big", tmp_path, build)
    _use(settings, plain_git.url("acme/big"), "evil")
    results = {r.name: r for r in services.templates_reload(actor=None)}
    assert results["evil"].status == "refused"
    assert "skeleton/big.bin is larger than 1,048,576 bytes; it was not downloaded" in results["evil"].message


@pytest.mark.django_db
def test_a_repository_on_a_host_without_integration_is_refused(git_server, git_integrations, settings):
    _use(settings, git_server.url("acme/none"), "python")
    results = {r.name: r for r in services.templates_reload(actor=None)}
    assert results["python"].status == "refused" and "has no Git integration" in results["python"].message
