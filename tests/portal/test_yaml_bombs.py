"""YAML that cannot blow up: aliases are refused everywhere Bridge reads YAML, with the file and line named.

The bomb is the classic "billion laughs": nine levels of lists of nine aliases to the level
below, about 530 bytes that expand to 9**9 strings. Before the shared loader, the catalog
spent 26 s and stored 66 MB on one such document, and an mkdocs nav made 74,733 pages.
Each refusal must finish in under a second (the issue's words); tests/bench/bench_yaml_bombs.py
prints how long each one takes.
"""

import io
import time
import zipfile
from contextlib import contextmanager

import pytest
import yaml
from django.urls import resolve

from catalog.models import Entity
from portal import safe_yaml
from tests.catalog.conftest import TEAM_YAML

pytestmark = pytest.mark.django_db


@contextmanager
def in_under_a_second():
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < 1, f"the refusal took {elapsed:.2f} s; it must take under a second"


def bomb(indent: str = "    ") -> str:
    """Anchors ``a`` to ``i`` (under ``indent``): each is nine aliases of the one before, so ``*i`` is 9**9 strings."""
    names = "abcdefghi"
    lines = [f"a: &a [{', '.join(['lol'] * 9)}]"]
    for below, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [{', '.join(['*' + below] * 9)}]")
    return "\n".join(indent + line for line in lines)


CATALOG_BOMB = f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: lol
  annotations:
{bomb()}
spec: {{type: service, lifecycle: production, owner: team-a, x: *i}}
"""


def test_the_loader_refuses_an_alias_and_names_the_file_and_the_line():
    with in_under_a_second(), pytest.raises(safe_yaml.UnsafeYAML) as caught:
        safe_yaml.load(CATALOG_BOMB, name="catalog-info.yaml")
    message = str(caught.value)
    assert "aliases" in message and '"catalog-info.yaml", line 7' in message
    assert safe_yaml.describe(caught.value, name="catalog-info.yaml").startswith("catalog-info.yaml, line 7,")


def test_an_anchor_without_an_alias_is_harmless_and_accepted():
    assert safe_yaml.load("a: &x 1\nb: 2\n", name="x.yaml") == {"a": 1, "b": 2}


def test_values_nested_too_deeply_are_refused():
    depth = safe_yaml.MAX_DEPTH + 5
    with in_under_a_second(), pytest.raises(safe_yaml.UnsafeYAML, match="nested more than"):
        safe_yaml.load("a: " + "[" * depth + "]" * depth, name="deep.yaml")


def test_nesting_far_past_the_cap_is_found_quickly_with_its_line():
    deep = "a: 1\nb: " + "[" * 20_000 + "]" * 20_000 + "\n"
    with in_under_a_second():
        assert safe_yaml.too_deep_at(deep) == 2
    assert safe_yaml.too_deep_at("a: " + "[" * 200 + "]" * 200) is None


def test_an_mkdocs_yml_nested_too_deeply_is_refused_naming_the_file(developer, space):
    from knowledge import services as knowledge
    from knowledge.mkdocs_project import ProjectError

    archive = _zip({"mkdocs.yml": "site_name: x\nnav: " + "[" * 20_000 + "]" * 20_000, "docs/index.md": "# Home\n"})
    with in_under_a_second(), pytest.raises(ProjectError, match=r"mkdocs.yml: nested too deeply \(line 2\)"):
        knowledge.space_import_archive(actor=developer, space=space, archive=archive)


def test_the_fast_parser_refuses_aliases_too():
    with in_under_a_second(), pytest.raises(ValueError, match="alias"):
        safe_yaml.fast_loads(CATALOG_BOMB)


def test_a_fingerprint_is_taken_from_the_raw_text():
    assert safe_yaml.fingerprint("a: 1\n") != safe_yaml.fingerprint("a:  1\n")
    assert len(safe_yaml.fingerprint(CATALOG_BOMB)) == 64


def test_a_catalog_bomb_from_a_team_member_is_refused_and_stores_nothing(login, developer, teammate):
    from catalog import services
    from catalog.models import Entity as CatalogEntity

    services.catalog_import_text(text=TEAM_YAML, name="teams")
    services.portal_user_link(entity=CatalogEntity.objects.get(ref_key="user:default/dev"), user=developer)
    client = login(developer)
    resolve("/api/catalog/import/")  # the first request imports every URL module: a second on its own
    with in_under_a_second():
        response = client.post(
            "/api/catalog/import/", {"yaml": CATALOG_BOMB, "name": "lol.yaml"}, content_type="application/json"
        )
    assert response.status_code == 200
    (problem,) = response.json()["problems"]
    assert "aliases" in problem["reason"] and problem["line"] == 7
    assert problem["file"] == "lol.yaml"
    assert not Entity.objects.filter(name="lol").exists()


def _zip(files: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    buffer.seek(0)
    return buffer


@pytest.fixture
def space(developer, teammate):
    from knowledge import services as knowledge
    from tests.knowledge.conftest import make_team

    return knowledge.space_create(actor=developer, key="ops", name="Ops", owner=make_team("team-ops", developer))


def test_an_mkdocs_nav_bomb_in_a_zip_is_refused_and_makes_no_page(developer, space):
    from knowledge import services as knowledge
    from knowledge.mkdocs_project import ProjectError
    from knowledge.models import Page

    config = "site_name: lol\nx:\n" + bomb("  ") + "\nnav: [{Home: index.md}, {Lol: *i}]\n"
    archive = _zip({"mkdocs.yml": config, "docs/index.md": "# Home\n"})
    with in_under_a_second(), pytest.raises(ProjectError, match="mkdocs.yml.*aliases"):
        knowledge.space_import_archive(actor=developer, space=space, archive=archive)
    assert Page.objects.filter(space=space).count() == 0


def test_an_mkdocs_nav_with_more_entries_than_the_limit_is_refused(developer, space, settings):
    from knowledge import services as knowledge
    from knowledge.mkdocs_project import ProjectError
    from knowledge.models import Page

    settings.KNOWLEDGE_MAX_IMPORT_FILES = 50
    nav = "\n".join(f"  - Section {i}: [{{Home: index.md}}]" for i in range(60))
    archive = _zip({"mkdocs.yml": f"site_name: big\nnav:\n{nav}\n", "docs/index.md": "# Home\n"})
    too_many = r"mkdocs.yml: nav (lists|has) more than (50 pages|100 entries)"
    with in_under_a_second(), pytest.raises(ProjectError, match=too_many):
        knowledge.space_import_archive(actor=developer, space=space, archive=archive)
    assert Page.objects.filter(space=space).count() == 0


def test_a_template_descriptor_bomb_is_rejected_with_the_file_named(tmp_path, platform_admin):
    from provisioning import services as provisioning

    template = tmp_path / "lol"
    template.mkdir()
    (template / "main.tf").write_text("")
    (template / "bridge-template.yaml").write_text(f"name: lol\nx:\n{bomb('  ')}\nparameters: *i\n")
    with in_under_a_second():
        (result,) = provisioning.templates_reload(actor=platform_admin, directory=tmp_path)
    assert result.status == "rejected"
    assert "bridge-template.yaml" in result.message and "aliases" in result.message


def test_yaml_errors_point_at_the_line_that_is_broken_not_where_the_parser_gave_up():
    text = 'kind: Component\nmetadata:\n  name: x\n  description: "unclosed\nspec:\n  type: s\n---\nkind: y\n'
    with pytest.raises(yaml.YAMLError) as caught:
        list(safe_yaml.load_all(text, name="q.yaml"))
    line, _column, message = safe_yaml.error_position(caught.value)
    assert line == 4
    assert "quoted scalar" in message and "line 7" in message
