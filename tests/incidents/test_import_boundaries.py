"""The arrows of DESIGN.md: incidents imports catalog and knowledge, and is imported by neither (nor by
pipelines, which hears of incidents through ``portal.events.incident_changed``)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names]
    return found


@pytest.mark.parametrize("app", ["catalog", "knowledge", "pipelines"])
def test_the_app_does_not_import_incidents(app):
    wrong = [line for line in _imports(app) if line.split(": ")[-1].split(".")[0] == "incidents"]
    assert not wrong, f"{app} imports the incidents app:\n" + "\n".join(wrong)


@pytest.mark.parametrize("app", ["catalog", "knowledge", "pipelines"])
def test_the_apps_templates_do_not_name_incident_templates_or_tags(app):
    """Knowledge pages show incidents through panels that the incidents app registers
    (``portal.extensions.PagePanel``), not by including its templates or loading its tags."""
    reaching = re.compile(r"""['"]incidents[/:]|incidents_tags""")
    wrong = [
        f"{path.relative_to(ROOT)}"
        for path in sorted((ROOT / app).rglob("*.html"))
        if reaching.search(path.read_text())
    ]
    assert not wrong, f"{app}'s templates reach into the incidents app:\n" + "\n".join(wrong)


def test_incidents_does_import_catalog_and_knowledge():
    imported = {line.split(": ")[-1].split(".")[0] for line in _imports("incidents")}
    assert {"catalog", "knowledge"} <= imported
