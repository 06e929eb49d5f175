"""What a malicious template tries is refused when it loads, with a message, and nothing of it runs.

Each test spoils a copy of the shipped template the way an attacker would and checks the refusal
and that the payload had no effect (a marker file a hook or task would have written stays absent).
"""

import os
from pathlib import Path

import pytest

from scaffolder import sandbox

MARKER = "/tmp/bridge-scaffolder-pwned"  # noqa: S108 - what a payload would write; must never exist


@pytest.fixture(autouse=True)
def _no_marker():
    Path(MARKER).unlink(missing_ok=True)
    yield
    assert not Path(MARKER).exists(), "template code ran"


def refused(directory) -> str:
    with pytest.raises(sandbox.TemplateRefused) as caught:
        sandbox.load_template(directory)
    return str(caught.value)


def test_the_shipped_template_loads_and_renders_every_file(template_dir):
    loaded = sandbox.load_template(template_dir)
    files = sandbox.render_isolated(loaded.files, sandbox.sample_values(loaded.parameters_schema))
    assert {
        "catalog-info.yaml",
        "mkdocs.yml",
        "docs/index.md",
        "Dockerfile",
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        "src/sample_service/app.py",
    } <= set(files)
    assert b"${{ github.sha }}" in files[".github/workflows/ci.yml"]


def test_a_jinja_payload_reaching_python_internals_is_refused(template_dir):
    (template_dir / "skeleton" / "evil.txt.jinja").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
        "{{ cycler.__init__.__globals__.os.system('touch " + MARKER + "') }}"
    )
    message = refused(template_dir)
    assert "evil.txt.jinja" in message and "sandbox refused" in message and "__class__" in message


def test_a_payload_in_a_file_name_is_refused(template_dir):
    (template_dir / "skeleton" / "{{ ''.__class__.__mro__ }}.txt").write_text("x")
    assert "file name cannot be rendered" in refused(template_dir)


def test_copier_tasks_are_refused(template_dir):
    (template_dir / "copier.yml").write_text(f"_tasks:\n  - touch {MARKER}\n")
    message = refused(template_dir)
    assert "'_tasks' is refused" in message and "copier.yml" in message


@pytest.mark.parametrize("key", ["_migrations", "_jinja_extensions"])
def test_copier_migrations_and_extensions_are_refused(template_dir, key):
    (template_dir / "copier.yml").write_text(f"{key}:\n  - jinja2_time.TimeExtension\n")
    assert f"'{key}' is refused" in refused(template_dir)


def test_tasks_in_the_descriptor_are_refused_too(template_dir):
    descriptor = template_dir / "bridge-scaffold.yaml"
    descriptor.write_text(descriptor.read_text() + f"_tasks: ['touch {MARKER}']\n")
    assert "'_tasks' is refused" in refused(template_dir)


def test_a_cookiecutter_hooks_folder_is_refused(template_dir):
    (template_dir / "hooks").mkdir()
    (template_dir / "hooks" / "post_gen_project.py").write_text(f"open('{MARKER}', 'w')\n")
    assert "hooks/ is refused" in refused(template_dir)


def test_an_output_path_climbing_out_with_dotdot_is_refused(template_dir):
    climb = template_dir / "skeleton" / "{{ '..' }}" / "{{ '..' }}"
    climb.mkdir(parents=True)
    (climb / "escaped.txt").write_text("x")
    message = refused(template_dir)
    assert "leaves the output folder" in message
    assert not (template_dir.parent / "escaped.txt").exists()


def test_a_parameter_value_cannot_make_a_file_name_absolute_or_climb_out():
    for value in ("/etc/passwd", "../../outside", "a/../../b"):
        with pytest.raises(sandbox.TemplateRefused, match="absolute path or leave the output folder"):
            sandbox.render_files({"src/{{ module }}.py": ""}, {"module": value})


def test_a_symbolic_link_is_refused(template_dir):
    os.symlink("/etc/passwd", template_dir / "skeleton" / "passwd")
    message = refused(template_dir)
    assert "skeleton/passwd is a symbolic link" in message


def test_a_1_gb_file_is_refused_without_being_read(template_dir):
    big = template_dir / "skeleton" / "big.bin"
    with open(big, "wb") as handle:  # sparse: 1 GB on paper, nothing on disk
        handle.truncate(1024**3)
    message = refused(template_dir)
    assert "skeleton/big.bin is 1,073,741,824 bytes" in message


def test_too_many_files_are_refused(template_dir, monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_FILES", 5)
    assert "more than 5 files" in refused(template_dir)


def test_an_expression_building_a_huge_string_is_refused(template_dir):
    (template_dir / "skeleton" / "bomb.txt.jinja").write_text("{{ 'x' * 1000000000 }}")
    assert "larger than a template may" in refused(template_dir)


def test_a_template_that_loops_for_ever_is_stopped(monkeypatch):
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 2)
    files = {
        "loop.txt.jinja": __import__("base64")
        .b64encode(b"{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
        .decode()
    }
    with pytest.raises(sandbox.TemplateRefused, match="CPU time|longer than"):
        sandbox.render_isolated(files, {})


def test_the_refusal_is_shown_to_platform_admins_and_the_template_is_not_offered(
    template_dir, settings, platform_admin, developer, login
):
    evil = template_dir.rename(template_dir.parent / "evil-service")
    descriptor = evil / "bridge-scaffold.yaml"
    descriptor.write_text(descriptor.read_text().replace("name: python-service", "name: evil-service"))
    (evil / "copier.yml").write_text("_tasks: ['true']\n")
    settings.SCAFFOLDER_TEMPLATE_DIRS = [str(evil.parent)]
    from scaffolder import services

    results = {r.name: r for r in services.templates_reload(actor=platform_admin)}
    assert results["python-service"].status == "published"
    assert results["evil-service"].status == "refused"
    admin_page = login(platform_admin).get("/create/").content.decode()
    assert "evil-service" in admin_page and "&#x27;_tasks&#x27; is refused" in admin_page
    developer_page = login(developer).get("/create/").content.decode()
    assert "Python service" in developer_page and "evil-service" not in developer_page
    assert login(developer).get("/create/templates/evil-service/").status_code == 404
