import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from knowledge import services
from knowledge.mkdocs_project import ProjectError, SettingsRefused, build
from knowledge.models import Page, SiteBuild
from knowledge.selectors import page_tree

pytestmark = pytest.mark.django_db


def write_project(root: Path, config: dict | str | None = None, files: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = {
            "site_name": "Ops",
            "nav": [
                {"Home": "index.md"},
                {"Guides": [{"Deploying": "guides/deploy.md"}, "guides/rollback.md"]},
                {"About": "about.md"},
            ],
        }
    (root / "mkdocs.yml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    files = files or {
        "index.md": "# Welcome\n\nSee [deploying](guides/deploy.md).",
        "guides/deploy.md": "# Deploy\n\n- [ ] build\n- [ ] ship",
        "guides/rollback.md": "# Rolling back\n\nUndo.",
        "about.md": "# About us\n",
        "zzz-unlisted.md": "# Not in nav\n",
    }
    for name, text in files.items():
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text(text)
    return root


class _TagsAsText(yaml.SafeLoader):
    pass


_TagsAsText.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: node.tag)


def exported_config(path: Path) -> dict:
    """An exported mkdocs.yml (its emoji settings name mkdocs-material's functions with !!python/name)."""
    return yaml.load(path.read_text(), Loader=_TagsAsText)  # noqa: S506 (a SafeLoader that keeps tags as text)


def zip_of(root: Path) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, "project/" + path.relative_to(root).as_posix())
    buffer.seek(0)
    return buffer


def test_importing_a_zip_keeps_the_nav_order_and_sections(tmp_path, developer, space):
    result = services.space_import_archive(actor=developer, space=space, archive=zip_of(write_project(tmp_path)))
    assert (result.created, result.updated) == (6, 0)
    tree = [(p.title, depth) for p, depth in page_tree(space)]
    assert tree == [
        ("Home", 0),
        ("Guides", 0),
        ("Deploying", 1),
        ("Rolling back", 1),
        ("About", 0),
        ("Not in nav", 0),
    ]


def test_reimporting_changes_only_what_changed(tmp_path, developer, space):
    root = write_project(tmp_path)
    services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    (root / "docs" / "about.md").write_text("# About us\n\nNew text.")
    result = services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 5)
    about = Page.objects.get(space=space, source_path="about.md")
    assert about.revisions.count() == 2


def test_relative_links_of_an_imported_project_resolve(tmp_path, developer, space):
    from knowledge.selectors import page_rendered

    services.space_import_archive(actor=developer, space=space, archive=zip_of(write_project(tmp_path)))
    home = Page.objects.get(space=space, source_path="index.md")
    deploy = Page.objects.get(space=space, source_path="guides/deploy.md")
    assert f'href="{deploy.get_absolute_url()}">deploying</a>' in page_rendered(home).html


def test_import_from_a_server_directory_under_a_configured_root(tmp_path, settings, platform_admin, space):
    settings.KNOWLEDGE_IMPORT_ROOTS = [str(tmp_path)]
    write_project(tmp_path / "ops-docs")
    result = services.space_import_directory(actor=platform_admin, space=space, directory="ops-docs")
    assert result.created == 6


def test_import_from_a_directory_outside_the_roots_is_refused(tmp_path, settings, platform_admin, space):
    settings.KNOWLEDGE_IMPORT_ROOTS = [str(tmp_path / "allowed")]
    (tmp_path / "allowed").mkdir()
    write_project(tmp_path / "elsewhere")
    with pytest.raises(ProjectError, match="outside the configured import roots"):
        services.space_import_directory(actor=platform_admin, space=space, directory=str(tmp_path / "elsewhere"))
    with pytest.raises(ProjectError, match="outside the configured import roots"):
        services.space_import_directory(actor=platform_admin, space=space, directory="../elsewhere")


def test_only_platform_admins_import_from_server_directories(tmp_path, settings, developer, space):
    from portal.services import PermissionDenied

    settings.KNOWLEDGE_IMPORT_ROOTS = [str(tmp_path)]
    write_project(tmp_path / "ops-docs")
    with pytest.raises(PermissionDenied):
        services.space_import_directory(actor=developer, space=space, directory="ops-docs")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"site_name": "x", "hooks": ["evil.py"]}, "hooks"),
        ({"site_name": "x", "plugins": ["search", "macros"]}, "plugin “macros”"),
        ({"site_name": "x", "plugins": [{"mkdocstrings": {}}]}, "plugin “mkdocstrings”"),
        ({"site_name": "x", "docs_dir": "../../etc"}, "points outside the project"),
        ({"site_name": "x", "markdown_extensions": ["pymdownx.snippets"]}, "pymdownx.snippets"),
        ({"site_name": "x", "theme": {"name": "material", "custom_dir": "overrides"}}, "custom_dir"),
        ({"site_name": "x", "extra_javascript": ["x.js"]}, "extra_javascript"),
        ("site_name: [unclosed", "not valid YAML"),
        ("site_name: !!python/name:os.system", "YAML tag"),
        ("- just\n- a list", "must be a mapping"),
        ({"site_name": "x", "plugins": 5}, "plugins must be a list"),
        ({"site_name": "x", "markdown_extensions": 3}, "markdown_extensions must be a list"),
        ({"site_name": "x", "theme": 5}, "theme must be a theme name"),
        ({"site_name": "x", "theme": ["material"]}, "theme must be a theme name"),
        ({"site_name": "x", "nav": "index.md"}, "nav must be a list"),
        ({"site_name": "x", "docs_dir": "do\0cs"}, "docs_dir must be a folder name"),
        ("site_name: x\n? [a, b]\n: 1\n", "a list or mapping is used as a key"),
    ],
)
def test_unsafe_or_invalid_mkdocs_configurations_are_refused(tmp_path, developer, space, config, message):
    root = write_project(tmp_path, config=config)
    with pytest.raises(ProjectError, match=message):
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert not Page.objects.filter(space=space).exists()


def test_a_symlink_pointing_outside_the_project_is_refused(tmp_path, settings, platform_admin, space):
    settings.KNOWLEDGE_IMPORT_ROOTS = [str(tmp_path)]
    root = write_project(tmp_path / "p")
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n")
    os.symlink(secret, root / "docs" / "leak.md")
    with pytest.raises(ProjectError, match="symbolic link pointing outside"):
        services.space_import_directory(actor=platform_admin, space=space, directory="p")


def _raw_zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    buffer.seek(0)
    return buffer


def test_a_zip_slip_path_is_refused(developer, space):
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/../../evil.md", b"x")])
    with pytest.raises(ProjectError, match="unsafe path"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_an_absolute_path_in_a_zip_is_refused(developer, space):
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("/tmp/evil.md", b"x")])
    with pytest.raises(ProjectError, match="unsafe path"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_a_symlink_inside_a_zip_is_refused(developer, space):
    link = zipfile.ZipInfo("docs/link.md")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), (link, b"/etc/passwd")])
    with pytest.raises(ProjectError, match="symbolic link"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_a_zip_bomb_is_refused(developer, space):
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/bomb.md", b"0" * (20 * 1024 * 1024))])
    with pytest.raises(ProjectError, match="zip bomb"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_an_archive_over_the_expanded_limit_is_refused(developer, space, settings):
    settings.KNOWLEDGE_MAX_IMPORT_BYTES = 1000
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/a.md", os.urandom(2000))])
    with pytest.raises(ProjectError, match="limit"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_an_encrypted_zip_entry_is_refused(developer, space):
    data = bytearray(_raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/index.md", b"# Hi\n")]).getvalue())
    # Mark the entry as encrypted (bit 0 of its flags) in the central directory, as zip tools write it.
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 0x1
    with pytest.raises(ProjectError, match="index.md” in the archive is encrypted"):
        services.space_import_archive(actor=developer, space=space, archive=io.BytesIO(bytes(data)))


def test_a_damaged_zip_entry_is_refused(developer, space):
    data = bytearray(_raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/index.md", b"# Hello " * 500)]).getvalue())
    start = data.index(b"docs/index.md") + len("docs/index.md")  # the entry's compressed data follows its name
    data[start + 20 : start + 30] = b"\x00" * 10
    with pytest.raises(ProjectError, match="damaged"):
        services.space_import_archive(actor=developer, space=space, archive=io.BytesIO(bytes(data)))
    assert not Page.objects.filter(space=space).exists()


def test_a_file_and_a_folder_of_the_same_name_are_refused(developer, space):
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs", b"x"), ("docs/a.md", b"# A\n")])
    with pytest.raises(ProjectError, match="clashes with another entry"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_a_page_with_nul_characters_is_refused(developer, space):
    archive = _raw_zip([("mkdocs.yml", b"site_name: x\n"), ("docs/a.md", b"# A\n\x00\x00")])
    with pytest.raises(ProjectError, match="a.md contains NUL characters"):
        services.space_import_archive(actor=developer, space=space, archive=archive)


def test_a_refused_page_is_named_and_nothing_is_imported(tmp_path, developer, space):
    config = {"site_name": "x", "nav": [{"Fine": "a.md"}, {"T" * 250: "guides/b.md"}]}
    root = write_project(tmp_path, config=config, files={"a.md": "# A\n", "guides/b.md": "# B\n"})
    with pytest.raises(ProjectError, match=r"^guides/b\.md: The title is too long.*Nothing was imported"):
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert not Page.objects.filter(space=space).exists()


def test_an_upload_that_is_not_a_zip_is_refused(developer, space):
    with pytest.raises(ProjectError, match="not a valid zip"):
        services.space_import_archive(actor=developer, space=space, archive=io.BytesIO(b"hello"))


def test_the_import_page_shows_refusals_as_form_errors(login, developer, space):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("p.zip", _raw_zip([("mkdocs.yml", b"site_name: x\nhooks: [a.py]\n")]).getvalue())
    response = login(developer).post(reverse("knowledge:space-import", args=[space.key]), {"archive": upload})
    assert response.status_code == 400 and "hooks: they run Python code" in response.content.decode()


def test_a_stranger_cannot_import_into_a_team_space(login, stranger, space):
    assert login(stranger).get(reverse("knowledge:space-import", args=[space.key])).status_code == 403


def test_export_zip_is_an_mkdocs_project_that_builds_strictly(tmp_path, login, developer, space):
    parent = services.page_create(actor=developer, space=space, title="Operations", body="# Ops\n\nSee [[Deploy]].")
    services.page_create(
        actor=developer, space=space, title="Deploy", kind="runbook", parent=parent, body="# Deploy\n\n[[Missing]]"
    )
    response = login(developer).get(reverse("knowledge:space-export", args=[space.key]))
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path / "export")
    config = exported_config(tmp_path / "export" / "mkdocs.yml")
    section = [{"Operations": "operations/index.md"}, {"Deploy": "operations/deploy.md"}]
    assert config["nav"][1] == {"Operations": section}
    assert "[Deploy](deploy.md)" in (tmp_path / "export" / "docs" / "operations" / "index.md").read_text()
    ok, log = build(tmp_path / "export" / "mkdocs.yml", tmp_path / "site")
    assert ok, log
    assert (tmp_path / "site" / "operations" / "deploy.html").is_file()


def test_an_exported_page_keeps_section_links_collapsible_admonitions_and_code_in_them(
    tmp_path, login, developer, space
):
    services.page_create(
        actor=developer,
        space=space,
        title="Deploy",
        body=(
            '# Deploy\n\n## Roll back\n\n??? note "Why"\n    Because.\n\n'
            '!!! warning "Careful"\n    Run:\n\n    ```bash\n    make rollback\n    ```\n'
        ),
    )
    services.page_create(
        actor=developer,
        space=space,
        title="Home",
        body="See [[Deploy#Roll back|the rollback]] and [[#Top]].\n\n# Top\n",
    )
    response = login(developer).get(reverse("knowledge:space-export", args=[space.key]))
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path / "export")
    home = (tmp_path / "export" / "docs" / "home.md").read_text()
    assert "[the rollback](deploy.md#roll-back)" in home and "[#Top](#top)" in home
    ok, log = build(tmp_path / "export" / "mkdocs.yml", tmp_path / "site")
    assert ok, log
    built = (tmp_path / "site" / "deploy.html").read_text()
    assert '<details class="note">' in built and 'id="roll-back"' in built
    warning = built[built.index('<div class="admonition warning">') :]
    assert '<div class="highlight">' in warning[: warning.index("make")]


def test_an_exported_space_reimports_with_the_same_order(tmp_path, developer, space, team):
    a = services.page_create(actor=developer, space=space, title="B first", body="# B first\n")
    services.page_create(actor=developer, space=space, title="A child", parent=a, body="# A child\n")
    services.page_create(actor=developer, space=space, title="A second", body="# A second\n")
    data = services.space_export_zip(actor=developer, space=space)
    other = services.space_create(actor=developer, key="copy", name="Copy", owner=team)
    services.space_import_archive(actor=developer, space=other, archive=io.BytesIO(data))
    assert [(p.title, d) for p, d in page_tree(other)] == [
        ("Home", 0),
        ("B first", 0),
        ("A child", 1),
        ("A second", 0),
    ]


def test_building_a_space_publishes_a_site_served_with_a_strict_csp(login, developer, space, settings, tmp_path):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    services.page_create(actor=developer, space=space, title="Hello", body="# Hello\n\n<script>x</script>")
    build_row = SiteBuild.objects.create(space=space, requested_by=developer)
    assert services.site_build_run(build_id=build_row.pk).status == "succeeded"
    # Running the same build again does nothing (the task is idempotent).
    assert services.site_build_run(build_id=build_row.pk).status == "succeeded"
    client = login(developer)
    response = client.get(reverse("knowledge:space-site", args=[space.key]), follow=True)
    assert response.status_code == 200 and response.redirect_chain[0][0].startswith("/knowledge/site/space:payments:")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    escape = client.get(reverse("knowledge:space-site-file", args=[space.key, "../../etc/passwd"]), follow=True)
    assert escape.status_code == 404


def test_a_failing_build_is_recorded_with_its_log(developer, space, settings, tmp_path, monkeypatch):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    monkeypatch.setattr("knowledge.mkdocs_project.EXPORT_EXTENSIONS", ["not_an_extension_xyz"])
    build_row = SiteBuild.objects.create(space=space, requested_by=developer)
    result = services.site_build_run(build_id=build_row.pk)
    assert result.status == "failed" and "not_an_extension_xyz" in result.log


def test_a_deeply_nested_space_exports_and_builds(developer, space, settings, tmp_path):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    parent = None
    for level in range(30):
        parent = services.page_create(
            actor=developer, space=space, title=f"Level {level}", body=f"# Level {level}\n", parent=parent
        )
    with zipfile.ZipFile(io.BytesIO(services.space_export_zip(actor=developer, space=space))) as archive:
        pages = [n for n in archive.namelist() if n.endswith(".md")]
    assert len(pages) == 30 + 1  # and the home page
    build_row = SiteBuild.objects.create(space=space, requested_by=developer)
    result = services.site_build_run(build_id=build_row.pk)
    assert result.status == "succeeded", result.log


def test_a_site_that_cannot_be_published_is_a_failed_build_and_the_old_site_stays(
    developer, space, settings, tmp_path, monkeypatch
):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    services.page_create(actor=developer, space=space, title="Hello", body="# Hello\n")
    first = services.site_build_run(build_id=SiteBuild.objects.create(space=space, requested_by=developer).pk)
    assert first.status == "succeeded"
    published = tmp_path / "sites" / space.key / "index.html"
    before = published.read_text()

    real_rename = Path.rename

    def refuse_the_new_site(self, target):
        if self.name == "site":
            raise PermissionError(13, "Permission denied", str(target))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_the_new_site)
    second = services.site_build_run(build_id=SiteBuild.objects.create(space=space, requested_by=developer).pk)
    assert second.status == "failed" and "Permission denied" in second.log
    assert published.read_text() == before


def test_an_unexpected_error_ends_the_build_as_failed(developer, space, settings, tmp_path, monkeypatch):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"

    def broken_export(**kwargs):
        raise KeyError(42)

    monkeypatch.setattr(services.sites, "space_export_project", broken_export)
    result = services.site_build_run(build_id=SiteBuild.objects.create(space=space, requested_by=developer).pk)
    assert result.status == "failed" and "KeyError" in result.log


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_an_export_carries_the_pages_files_and_builds(tmp_path, developer, space):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = services.page_create(actor=developer, space=space, title="Deploy", body="# Deploy\n")
    diagram = services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile("flow chart.png", PNG))
    child = services.page_create(actor=developer, space=space, title="Rollback", parent=page, body="# Rollback\n")
    services.page_update(
        actor=developer,
        page=child,
        title="Rollback",
        body=f"# Rollback\n\n![flow]({diagram.get_absolute_url()})\n\n[the chart](http://portal.example{diagram.get_absolute_url()})\n",
        base_revision_id=child.current_revision_id,
    )
    data = services.space_export_zip(actor=developer, space=space)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "export")
        markdown = archive.read("docs/deploy/rollback.md").decode()
    assert (tmp_path / "export" / "docs" / "attachments" / "deploy" / "flow chart.png").read_bytes() == PNG
    assert "![flow](../attachments/deploy/flow%20chart.png)" in markdown
    assert "[the chart](../attachments/deploy/flow%20chart.png)" in markdown
    ok, log = build(tmp_path / "export" / "mkdocs.yml", tmp_path / "site")
    assert ok, log
    assert (tmp_path / "site" / "attachments" / "deploy" / "flow chart.png").read_bytes() == PNG


def test_an_import_attaches_the_images_its_pages_show(tmp_path, login, developer, space):
    root = write_project(
        tmp_path,
        config={"site_name": "Ops", "nav": [{"Home": "index.md"}, {"Deploy": "guides/deploy.md"}]},
        files={
            "index.md": "# Home\n\n![logo](img/logo.png)\n",
            "guides/deploy.md": '# Deploy\n\n![flow](../img/flow.png "The flow")\n\n<img src="../img/logo.png">\n'
            "[script](../tools/run.sh)\n",
        },
    )
    (root / "docs" / "img").mkdir()
    (root / "docs" / "img" / "logo.png").write_bytes(PNG)
    (root / "docs" / "img" / "flow.png").write_bytes(PNG + b"flow")
    (root / "docs" / "tools").mkdir()
    (root / "docs" / "tools" / "run.sh").write_text("echo hi\n")
    services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    deploy = Page.objects.get(space=space, source_path="guides/deploy.md")
    assert sorted(deploy.attachments.values_list("name", flat=True)) == ["flow.png", "logo.png"]
    flow_url = reverse("knowledge:attachment", args=[space.key, deploy.slug, "flow.png"])
    assert f'![flow]({flow_url} "The flow")' in deploy.body
    assert "[script](../tools/run.sh)" in deploy.body  # not an attachment type: left as written
    served = login(developer).get(flow_url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == PNG + b"flow"
    # Importing again attaches nothing twice and changes nothing.
    result = services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert (result.created, result.updated) == (0, 0)
    assert deploy.attachments.count() == 2


def test_an_import_refuses_a_file_that_is_not_what_its_name_says(tmp_path, developer, space):
    root = write_project(tmp_path, config={"site_name": "Ops"}, files={"index.md": "# Home\n\n![logo](logo.png)\n"})
    (root / "docs" / "logo.png").write_text("<svg onload=alert(1)>")
    with pytest.raises(ProjectError, match=r"index\.md shows “logo\.png”: .*does not look like a \.png file"):
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert not Page.objects.filter(space=space).exists()


def test_files_survive_an_export_and_reimport(developer, space, team, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = services.page_create(actor=developer, space=space, title="Deploy", body="# Deploy\n")
    diagram = services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile("flow.png", PNG))
    services.page_update(
        actor=developer,
        page=page,
        title="Deploy",
        body=f"# Deploy\n\n![flow]({diagram.get_absolute_url()})\n",
        base_revision_id=page.current_revision_id,
    )
    data = services.space_export_zip(actor=developer, space=space)
    other = services.space_create(actor=developer, key="copy", name="Copy", owner=team)
    services.space_import_archive(actor=developer, space=other, archive=io.BytesIO(data))
    copy = Page.objects.get(space=other, title="Deploy")
    url = reverse("knowledge:attachment", args=["copy", copy.slug, "flow.png"])
    assert f"![flow]({url})" in copy.body
    assert b"".join(login(developer).get(url).streaming_content) == PNG


CODE_WITH_BRACKETS = """# Restart

See [[Deploy]] and [[1]](https://example.com/ref) and `[[inline]]`.

```bash
if [[ -f /var/run/app.pid ]]; then
  kill "$(cat /var/run/app.pid)"
fi
```

    [[servers]]
    name = "indented"

- A list item

    with a continued paragraph that links [[Deploy]].

!!! note
    Also [[Deploy]] here.

~~~~toml
[[servers]]
```
[[still code]]
```
~~~~
"""


def test_an_export_keeps_code_as_written_and_converts_only_real_wikilinks(tmp_path, login, developer, space):
    services.page_create(actor=developer, space=space, title="Deploy", body="# Deploy\n")
    services.page_create(actor=developer, space=space, title="Restart", body=CODE_WITH_BRACKETS)
    response = login(developer).get(reverse("knowledge:space-export", args=[space.key]))
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path / "export")
    exported = (tmp_path / "export" / "docs" / "restart.md").read_text()
    assert "if [[ -f /var/run/app.pid ]]; then" in exported
    assert "    [[servers]]\n" in exported and "\n[[servers]]\n```\n[[still code]]\n```\n" in exported
    assert "`[[inline]]`" in exported and "[[1]](https://example.com/ref)" in exported
    assert exported.count("[Deploy](deploy.md)") == 3
    ok, log = build(tmp_path / "export" / "mkdocs.yml", tmp_path / "site")
    assert ok, log


MANY_REFUSALS = """site_name: Ops
hooks: [hooks.py]
watch: [src]
plugins:
  - search
  - blog
  - minify: {minify_html: true}
markdown_extensions:
  - pymdownx.snippets
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
      emoji_generator: !!python/name:os.system
extra:
  analytics:
    property: !ENV GOOGLE_ANALYTICS_KEY
nav:
  - Home: index.md
"""


def test_every_refused_setting_is_named_in_one_pass_and_the_pages_come_in_without_them(tmp_path, developer, space):
    root = write_project(tmp_path, config=MANY_REFUSALS)
    with pytest.raises(SettingsRefused) as refused:
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    settings = [r.setting for r in refused.value.refusals]
    assert settings == [
        "markdown_extensions[1].pymdownx.emoji.emoji_generator",
        "extra.analytics.property",
        "hooks",
        "watch",
        "plugin “blog”",
        "plugin “minify”",
        "Markdown extension “pymdownx.snippets”",
    ]
    assert not Page.objects.filter(space=space).exists()

    result = services.space_import_archive(actor=developer, space=space, archive=zip_of(root), drop_refused=True)
    assert result.created == 5 and len(result.dropped) == 7
    assert "hooks: they run Python code" in result.dropped


def test_the_import_page_lists_every_refusal_and_offers_to_import_without_them(login, developer, space, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(developer)
    url = reverse("knowledge:space-import", args=[space.key])
    archive = zip_of(write_project(tmp_path, config=MANY_REFUSALS)).getvalue()
    response = client.post(url, {"archive": SimpleUploadedFile("p.zip", archive)})
    page = response.content.decode()
    assert response.status_code == 400 and page.count("<li><strong>") == 7
    assert "Import without the settings Bridge refuses" in page
    response = client.post(url, {"archive": SimpleUploadedFile("p.zip", archive), "drop_refused": "on"}, follow=True)
    page = response.content.decode()
    assert "Imported: 5 new pages" in page and "Left out of mkdocs.yml: " in page and "plugin “blog”" in page


@pytest.mark.parametrize("text", ["site_name: &name Ops\nextra: {copy: *name}\n", "a: &x [1]\nb: *x\n"])
def test_yaml_anchors_and_aliases_are_refused_naming_the_file(tmp_path, developer, space, text):
    root = write_project(tmp_path, config=text)
    with pytest.raises(ProjectError, match=r"mkdocs.yml uses a YAML anchor &\w+ \(line 1\)"):
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root), drop_refused=True)


def test_the_import_page_refuses_a_nav_nested_20000_levels_deep_quickly(login, developer, space):
    from django.core.files.uploadedfile import SimpleUploadedFile

    deep = b"site_name: x\nnav: " + b"[" * 20_000 + b"]" * 20_000 + b"\n"
    upload = SimpleUploadedFile("p.zip", _raw_zip([("mkdocs.yml", deep), ("docs/index.md", b"# Hi\n")]).getvalue())
    client = login(developer)
    url = reverse("knowledge:space-import", args=[space.key])  # loads the URL modules before the clock starts
    started = time.perf_counter()
    response = client.post(url, {"archive": upload})
    elapsed = time.perf_counter() - started
    assert response.status_code == 400
    assert "mkdocs.yml: nested too deeply (line 2); Bridge reads lists and mappings at most 256 levels deep." in (
        response.content.decode()
    )
    assert elapsed < 1, f"the refusal took {elapsed:.2f} s"
    assert not Page.objects.filter(space=space).exists()


def test_a_nav_with_too_many_entries_is_refused(tmp_path, developer, space, settings):
    settings.KNOWLEDGE_MAX_IMPORT_FILES = 10
    root = write_project(tmp_path, config={"site_name": "x", "nav": [{f"P{i}": f"p{i}.md"} for i in range(21)]})
    with pytest.raises(ProjectError, match="nav has more than 20 entries"):
        services.space_import_archive(actor=developer, space=space, archive=zip_of(root), drop_refused=True)


def test_folders_in_the_nav_and_links_as_mkdocs_writes_them_lead_to_pages(tmp_path, developer, space, login):
    root = write_project(
        tmp_path,
        config={"site_name": "Ops", "nav": [{"Home": "index.md"}, {"User Guide": "guide/"}]},
        files={
            "index.md": '# Home\n\n[install](guide/install.md/#pip) and <a href="guide/">the guide</a>.',
            "guide/README.md": "# User Guide\n\n- [Writing](writing.md)\n- [Installing](install.md)\n",
            "guide/install.md": "# Installing\n\n## Pip { #pip }\n",
            "guide/writing.md": "---\ntitle: Writing your docs\ntags: [文档]\n---\n\n# Writing\n",
        },
    )
    services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    assert [(p.title, depth) for p, depth in page_tree(space)] == [
        ("Home", 0),
        ("User Guide", 0),
        ("Writing your docs", 1),
        ("Installing", 1),
    ]
    install, guide = (Page.objects.get(space=space, source_path=p) for p in ("guide/install.md", "guide/README.md"))
    assert not install.attachments.exists() and not Page.objects.get(source_path="index.md").attachments.exists()
    html = login(developer).get(Page.objects.get(source_path="index.md").get_absolute_url()).content.decode()
    assert f'href="{install.get_absolute_url()}#kb-pip">install</a>' in html
    assert f'href="{guide.get_absolute_url()}">the guide</a>' in html
    assert list(Page.objects.get(source_path="guide/writing.md").tags.values_list("name", flat=True)) == ["文档"]


def _unrendered(body: str, extensions: list = ()) -> dict[str, list[str]]:
    from knowledge.mkdocs_project import ProjectPage, unrendered_features

    return unrendered_features([ProjectPage(path="page.md", title="Page", body=body)], extensions=extensions)


def test_a_mermaid_diagram_is_reported_as_shown_as_code():
    body = "# Flow\n\n``` mermaid\ngraph LR\n  A --> B\n```\n\n```` markdown\n``` python\nx = 1\n```\n````\n"
    assert _unrendered(body) == {"Mermaid diagrams: shown as code": ["page.md"]}
    assert _unrendered("# Flow\n\nWrite `mermaid` diagrams with Mermaid.\n") == {}


@pytest.mark.parametrize(
    "body",
    [
        "``` yaml\ntheme:\n  features:\n    - content.code.annotate # (1)!\n```\n\n1.  Shows a note.\n",
        "``` { .yaml .annotate }\ntheme: material # (1)\n```\n\n1.  The theme.\n",
        "Lorem ipsum (1)\n{ .annotate }\n\n1.  A note.\n",
    ],
)
def test_code_annotations_are_reported_in_code_and_in_prose(body):
    assert _unrendered(body) == {"code annotations: shown as a numbered list": ["page.md"]}


def test_configured_extensions_bridge_does_not_render_are_each_named():
    extensions = ["toc", "fenced_code", {"pymdownx.magiclink": {"user": "me"}}, "pymdownx.smartsymbols", "nl2br"]
    assert _unrendered("# Page\n", extensions) == {
        "extension pymdownx.magiclink: not rendered": [],
        "extension pymdownx.smartsymbols: not rendered": [],
        "extension nl2br: not rendered": [],
    }


def test_the_import_names_each_extension_it_does_not_render_and_the_pages_of_each_feature(
    login, developer, space, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = {f"p{n:02}.md": f"# P{n}\n\n``` mermaid\ngraph LR\n```\n" for n in range(12)}
    config = {"site_name": "Ops", "markdown_extensions": ["pymdownx.magiclink", "pymdownx.betterem"]}
    archive = zip_of(write_project(tmp_path, config=config, files=files)).getvalue()
    response = login(developer).post(
        reverse("knowledge:space-import", args=[space.key]),
        {"archive": SimpleUploadedFile("p.zip", archive)},
        follow=True,
    )
    page = response.content.decode()
    assert "Extension pymdownx.magiclink: not rendered — set in mkdocs.yml." in page
    assert "Extension pymdownx.betterem: not rendered — set in mkdocs.yml." in page
    assert "Not rendered: Mermaid diagrams: shown as code — in p00.md, p01.md," in page
    assert "p09.md and 2 more." in page and "p10.md" not in page


def test_links_written_as_the_built_sites_directory_urls_lead_to_their_pages(tmp_path, developer, space, login):
    root = write_project(
        tmp_path,
        config={"site_name": "Ops", "nav": [{"Home": "index.md"}, {"Install": "guide/install.md"}]},
        files={
            "index.md": '# Home\n\n<a href="guide/install">as HTML</a>, <a href="guide/install/#pip">at pip</a> '
            "and [as Markdown](guide/install/).",
            "guide/install.md": "# Installing\n\n## Pip\n",
        },
    )
    services.space_import_archive(actor=developer, space=space, archive=zip_of(root))
    install = Page.objects.get(space=space, source_path="guide/install.md").get_absolute_url()
    html = (
        login(developer).get(Page.objects.get(space=space, source_path="index.md").get_absolute_url()).content.decode()
    )
    assert f'href="{install}">as HTML</a>' in html
    assert f'href="{install}#kb-pip">at pip</a>' in html
    assert f'href="{install}">as Markdown</a>' in html
