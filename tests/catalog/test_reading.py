"""Reading entities (issue #16, item 8 and the defects found with Backstage's examples).

The YAML tab and the export write definitions as people write them; API entities have a
Definition tab; what Backstage's current catalog model accepts is accepted; each kind's page
shows what applies to it.
"""

from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from catalog import descriptors, selectors
from catalog.models import Entity

pytestmark = pytest.mark.django_db

BACKSTAGE = Path(__file__).parent / "backstage"

NIGHT_API = """
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: night-api
  description: |
    Night city 🌃 listings.
    Second line, with ünïcödé.
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: |
    openapi: 3.0.0
    info:
      title: Night 🌃 API
      version: 1.0.0
    paths:
      /listings:
        get:
          summary: List the listings
          responses:
            "200":
              description: The listings
"""


def test_the_yaml_tab_writes_multi_line_text_as_blocks_and_keeps_emoji(login, developer, import_text):
    import_text(NIGHT_API)
    response = login(developer).get(reverse("catalog:entity", args=["API", "default", "night-api"]), {"tab": "yaml"})
    text = response.context["yaml"]
    assert "definition: |" in text
    assert "description: |" in text
    assert "title: Night 🌃 API" in text
    assert "\\U0001F303" not in text and "\\n" not in text
    assert "Night 🌃 API" in response.content.decode()


def test_the_export_reads_like_the_source_and_parses_back_identically(import_text):
    import_text(NIGHT_API)
    entity = Entity.objects.get(name="night-api")
    exported = "".join(selectors.export_yaml(Entity.objects.filter(pk=entity.pk)))
    assert "\\U0001F303" not in exported and "\\n" not in exported
    assert "  definition: |\n    openapi: 3.0.0\n    info:\n      title: Night 🌃 API\n" in exported
    (doc,) = yaml.safe_load_all(exported)
    assert doc["spec"]["definition"] == entity.spec["definition"]
    assert doc["metadata"]["description"] == entity.description
    # Bridge's own reader (the fast YAML 1.2 path) reads the same thing back.
    problems = []
    [(_, again, _)] = list(descriptors.iter_documents(exported, file="export.yaml", problems=problems))
    assert problems == [] and again == doc


@pytest.mark.parametrize(
    "text",
    [
        "two\nlines",
        "ends with a break\n",
        "several breaks\n\n\n",
        "  indented first line\nnext",
        "trailing space \nnext",
        "tab\tinside\nnext",
        "windows\r\nline",
        "# not a comment\n- not a list\n---\nnot a document",
        "🌃 astral\nplane 😀",
        "\n",
    ],
)
def test_every_multi_line_string_reads_back_the_same(text):
    document = {"apiVersion": "backstage.io/v1alpha1", "kind": "API", "spec": {"definition": text, "x": [text]}}
    assert yaml.safe_load(descriptors.dump_yaml(document)) == document
    assert list(yaml.safe_load_all(descriptors.dump_documents([document, document]))) == [document, document]
