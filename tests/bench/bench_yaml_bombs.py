"""YAML bombs: how long each refusal takes; prints figures, not part of the pass/fail suite.

Run: ``.venv/bin/pytest tests/bench/bench_yaml_bombs.py -s``.
Budget (issue 16): a "billion laughs" in a catalog import, an mkdocs zip and an environment
template descriptor each finishes in under a second with a clear error. Before the shared
loader (portal/safe_yaml.py), the catalog spent 26 s on a 544-byte document and stored 66 MB.
"""

import time

import pytest

from tests.bench.machine import reference_figures
from tests.portal.test_yaml_bombs import CATALOG_BOMB, _zip, bomb

pytestmark = pytest.mark.django_db
BUDGET_S = 1.0


def _report(what: str, seconds: float, error: str) -> None:
    verdict = "within" if seconds <= BUDGET_S else "OVER"
    print(f"\n{what}: {seconds * 1000:.1f} ms ({verdict} the budget of {BUDGET_S:.0f} s); error: {error[:140]}")


def test_bench_machine_reference():
    print("\n" + reference_figures())


def test_bench_a_catalog_bomb(platform_admin):
    from catalog import services

    start = time.perf_counter()
    result = services.catalog_import_text(text=CATALOG_BOMB, name="lol.yaml", actor=platform_admin)
    _report(f"catalog import of a {len(CATALOG_BOMB)}-byte bomb", time.perf_counter() - start, str(result.problems[0]))


def test_bench_an_mkdocs_zip_bomb(developer):
    from knowledge import services as knowledge
    from knowledge.mkdocs_project import ProjectError
    from tests.knowledge.conftest import make_team

    space = knowledge.space_create(actor=developer, key="ops", name="Ops", owner=make_team("team-ops", developer))
    config = "site_name: lol\nx:\n" + bomb("  ") + "\nnav: [{Home: index.md}, {Lol: *i}]\n"
    archive = _zip({"mkdocs.yml": config, "docs/index.md": "# Home\n"})
    size = len(archive.getvalue())
    start = time.perf_counter()
    with pytest.raises(ProjectError) as caught:
        knowledge.space_import_archive(actor=developer, space=space, archive=archive)
    _report(f"mkdocs import of a {size}-byte zip with a nav bomb", time.perf_counter() - start, str(caught.value))


def test_bench_a_template_descriptor_bomb(tmp_path, platform_admin):
    from provisioning import services as provisioning

    template = tmp_path / "lol"
    template.mkdir()
    (template / "main.tf").write_text("")
    (template / "bridge-template.yaml").write_text(f"name: lol\nx:\n{bomb('  ')}\nparameters: *i\n")
    start = time.perf_counter()
    (result,) = provisioning.templates_reload(actor=platform_admin, directory=tmp_path)
    _report("template descriptor bomb", time.perf_counter() - start, result.message)
