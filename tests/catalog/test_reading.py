"""Reading entities (issue #16, item 8 and the defects found with Backstage's examples).

The YAML tab and the export write definitions as people write them; API entities have a
Definition tab; what Backstage's current catalog model accepts is accepted; each kind's page
shows what applies to it.
"""

from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from catalog import descriptors, selectors, services
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


def backstage_example(path: str) -> str:
    """A file copied from backstage/backstage (see tests/catalog/backstage/README.md for path and commit)."""
    return (BACKSTAGE / path).read_text()


def entity_page(client, ref: str, **params):
    kind, rest = ref.split(":", 1)
    namespace, name = rest.split("/", 1)
    return client.get(reverse("catalog:entity", args=[kind, namespace, name]), params)


def tab_keys(response) -> list[str]:
    return [key for key, _title in response.context["tabs"]]


def test_an_openapi_definition_is_rendered_by_swagger_ui_from_local_static_files(login, developer, import_text):
    import_text(backstage_example("apis/petstore-api.yaml"))
    client = login(developer)
    assert "definition" in tab_keys(entity_page(client, "API:default/petstore"))
    response = entity_page(client, "API:default/petstore", tab="definition")
    body = response.content.decode()
    definition = response.context["definition"]
    assert definition.openapi["info"]["title"] == "Swagger Petstore"
    assert '<script id="openapi-definition" type="application/json">' in body
    assert 'data-swagger-ui-js="/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in body
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in body
    assert "cdn" not in body.lower() and "unpkg" not in body
    # The page keeps the portal's strict policy: no inline script runs, Swagger UI is a file of our own origin.
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    # The source is there too, highlighted.
    assert '<div class="highlight">' in body and "Swagger Petstore" in body


@pytest.mark.parametrize(
    ("path", "ref", "language", "snippet"),
    [
        ("apis/streetlights-api.yaml", "API:default/streetlights", "yaml", "Streetlights API"),
        ("apis/hello-world-api.yaml", "API:default/hello-world", "protobuf", "HelloRequest"),
    ],
)
def test_asyncapi_and_grpc_definitions_are_highlighted_source(
    login, developer, import_text, path, ref, language, snippet
):
    import_text(backstage_example(path))
    response = entity_page(login(developer), ref, tab="definition")
    definition = response.context["definition"]
    assert definition.openapi is None and definition.language == language
    body = response.content.decode()
    assert '<div class="highlight">' in body and snippet in body
    assert "swagger-ui-bundle.js" not in body


def test_a_graphql_definition_is_highlighted_and_its_text_escaped(login, developer, import_text):
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: films-graphql}
        spec:
          type: graphql
          lifecycle: production
          owner: team-a
          definition: |
            \"\"\"A single film. <script>alert(1)</script>\"\"\"
            type Film { title: String }
        """
    )
    body = entity_page(login(developer), "API:default/films-graphql", tab="definition").content.decode()
    assert '<span class="k">type</span>' in body
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_an_openapi_definition_that_does_not_parse_is_shown_as_text_with_the_reason(login, developer, import_text):
    import_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: broken-api}
        spec:
          type: openapi
          lifecycle: production
          owner: team-a
          definition: |
            openapi: 3.0.0
            info: {title: "unclosed
        """
    )
    response = entity_page(login(developer), "API:default/broken-api", tab="definition")
    assert response.status_code == 200
    assert "cannot be read as YAML or JSON (line 2)" in response.content.decode()
    assert "swagger-ui-bundle.js" not in response.content.decode()


def test_only_api_pages_have_a_definition_tab(login, developer, import_text):
    import_text(backstage_example("components/artist-lookup-component.yaml"))
    client = login(developer)
    assert "definition" not in tab_keys(entity_page(client, "Component:default/artist-lookup"))
    assert entity_page(client, "Component:default/artist-lookup", tab="definition").context["tab"] == "overview"


def test_backstages_mcp_server_example_is_accepted_and_shows_its_endpoints(login, developer, import_text):
    result = import_text(backstage_example("apis/backstage-mcp-server-api.yaml"))
    assert result.problems == []
    api = Entity.objects.get(ref_key="api:default/backstage-mcp-server")
    assert api.spec_type == "mcp-server" and api.owner_ref == "group:default/team-a"
    body = entity_page(login(developer), "API:default/backstage-mcp-server", tab="definition").content.decode()
    assert "streamable-http" in body and "http://localhost:7007/api/mcp/v1" in body


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("{type: openapi, lifecycle: production, owner: team-a}", "spec.definition"),
        ("{type: mcp-server, lifecycle: production, owner: team-a}", "spec.remotes"),
        ("{type: mcp-server, lifecycle: production, owner: team-a, remotes: [{type: sse}]}", "spec.remotes[0].url"),
    ],
)
def test_an_api_without_what_its_type_needs_is_still_refused(import_text, spec, field):
    result = import_text(f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: x}}\nspec: {spec}\n")
    assert [p.field for p in result.problems] == [field]


def test_a_backstage_template_is_accepted_and_shown_read_only(login, developer, platform_admin, import_text):
    result = import_text(backstage_example("templates/conditional-output-demo.yaml"))
    assert result.problems == []
    template = Entity.objects.get(ref_key="template:default/conditional-output-demo")
    assert template.api_version == "scaffolder.backstage.io/v1beta3"
    assert template.owner_ref == "group:backstage/techdocs-core"
    for user in (developer, platform_admin):
        response = entity_page(login(user), "Template:default/conditional-output-demo")
        body = response.content.decode()
        assert "Bridge does not run Backstage templates" in body
        assert "Porting a Backstage template" in body  # where the note sends whoever ports it
        assert "Enable CI" in body and "debug:log" in body
        assert response.context["can_edit"] is False
        assert "/edit/" not in body
        assert not {"pipelines", "docs", "runbooks", "definition"} & set(tab_keys(response))
    # Nor through the API or a form: the catalog file is where it changes.
    with pytest.raises(services.ServiceError, match="read-only"):
        services.entity_save(
            actor=platform_admin,
            document=yaml.safe_load(backstage_example("templates/conditional-output-demo.yaml")),
            entity=template,
        )
    # The export gives it back as Backstage wrote it.
    (doc,) = yaml.safe_load_all("".join(selectors.export_yaml(Entity.objects.filter(pk=template.pk))))
    assert doc == yaml.safe_load(backstage_example("templates/conditional-output-demo.yaml")) | {
        "metadata": {
            **yaml.safe_load(backstage_example("templates/conditional-output-demo.yaml"))["metadata"],
            "namespace": "default",
        }
    }


def test_a_template_of_another_api_version_or_without_steps_is_refused(import_text):
    bad_version = (
        "apiVersion: backstage.io/v1alpha1\nkind: Template\nmetadata: {name: t}\nspec: {type: service, steps: []}\n"
    )
    assert [p.field for p in import_text(bad_version).problems] == ["apiVersion"]
    no_steps = (
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\nspec: {type: service}\n"
    )
    assert [p.field for p in import_text(no_steps).problems] == ["spec.steps"]


PEOPLE = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: guests}
spec: {type: team, children: [], members: [guest, development/guest]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: guest}
spec:
  profile: {displayName: Guest From Default, email: guest@example.com}
  memberOf: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: guest, namespace: development}
spec:
  profile: {displayName: Guest From Development}
  memberOf: []
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: more}
spec: {targets: [./a.yaml, ./b.yaml]}
"""


def test_a_user_page_is_titled_with_the_profile_display_name(login, developer, import_text):
    import_text(PEOPLE)
    response = entity_page(login(developer), "User:development/guest")
    body = response.content.decode()
    assert "<title>Guest From Development" in body
    assert 'Guest From Development <span class="badge">User</span>' in body


def test_group_members_from_two_namespaces_can_be_told_apart(login, developer, import_text):
    import_text(PEOPLE)
    body = entity_page(login(developer), "Group:default/guests").content.decode()
    members = body.split("<h2>Members</h2>", 1)[1].split("</section>", 1)[0]
    assert "Guest From Default" in members and "Guest From Development" in members
    assert "user:guest</code>" in members and "user:development/guest</code>" in members


def test_user_group_and_location_pages_have_no_tabs_that_do_not_apply(login, developer, import_text):
    import_text(PEOPLE)
    client = login(developer)
    for ref in ("User:default/guest", "Location:default/more"):
        response = entity_page(client, ref)
        assert tab_keys(response) == ["overview", "relations", "yaml"], ref
        assert "will show here as tabs" not in response.content.decode()
        # An old link to a tab that does not apply lands on the overview, not on an error.
        assert entity_page(client, ref, tab="pipelines").context["tab"] == "overview"
    assert {"docs"} <= set(tab_keys(entity_page(client, "Group:default/guests")))
    assert not {"pipelines", "runbooks"} & set(tab_keys(entity_page(client, "Group:default/guests")))


def test_a_location_page_lists_its_type_and_each_target(login, developer, import_text):
    long_target = "https://github.com/acme/" + "very-long-repository-name-" * 8 + "/blob/main/catalog-info.yaml"
    import_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: shop-parts}\n"
        f"spec: {{type: url, targets: [./a.yaml, ./b.yaml, '{long_target}', './<b>c</b>.yaml']}}\n"
    )
    body = entity_page(login(developer), "Location:default/shop-parts").content.decode()
    about = body.split("<h2>About</h2>", 1)[1].split("</section>", 1)[0]
    assert "<dt>Type</dt><dd>url</dd>" in about
    for target in ("./a.yaml", "./b.yaml", long_target, "./&lt;b&gt;c&lt;/b&gt;.yaml"):
        assert f"<li><code>{target}</code></li>" in about
    assert "<b>c</b>" not in body
    assert '<dd class="wrap-anywhere"><ul class="location-targets">' in about


def test_a_location_page_shows_its_single_target(login, developer, import_text):
    import_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: one}\nspec: {target: ./one.yaml}\n"
    )
    about = entity_page(login(developer), "Location:default/one").content.decode().split("<h2>About</h2>", 1)[1]
    assert "<dt>Target</dt>" in about and "<code>./one.yaml</code>" in about


def test_a_component_page_keeps_every_tab(login, developer, import_text):
    import_text(backstage_example("components/artist-lookup-component.yaml"))
    keys = tab_keys(entity_page(login(developer), "Component:default/artist-lookup"))
    assert keys[:4] == ["overview", "relations", "graph", "yaml"]
    assert {"docs", "runbooks", "pipelines"} <= set(keys)


CHAIN = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:cart, component:prices]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: cart}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:prices]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: prices}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: storefront}
spec: {type: website, lifecycle: production, owner: team-a, dependsOn: [component:shop]}
"""


def _bezier_points(d: str, steps: int = 40) -> list[tuple[float, float]]:
    """Points along an SVG path ``M x y C x1 y1, x2 y2, x y`` as the graph writes them."""
    numbers = [float(n) for n in d.replace("M", " ").replace("C", " ").replace(",", " ").split()]
    (x0, y0, x1, y1, x2, y2, x3, y3) = numbers
    points = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
        points.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
    return points


def test_no_edge_of_the_graph_runs_through_a_box_and_each_ends_at_what_is_depended_on(login, developer, import_text):
    import_text(CHAIN)
    response = entity_page(login(developer), "Component:default/shop", tab="graph")
    svg = response.context["svg"]
    graph = response.context["graph"]
    boxes = {box.ref: box for box in svg["boxes"]}
    width, height = svg["box_width"], svg["box_height"]
    # cart and prices are both one level to the right of shop: one column, and cart depends on prices.
    assert boxes["component:default/cart"].x == boxes["component:default/prices"].x
    assert len(svg["edges"]) == len(graph["edges"]) == 4
    for (a, b), d in zip(graph["edges"], svg["edges"], strict=True):
        points = _bezier_points(d)
        end_x, end_y = points[-1]
        target = boxes[b]
        assert end_x in (target.x, target.x + width) and target.y <= end_y <= target.y + height, (a, b, d)
        start_x, _ = points[0]
        assert start_x in (boxes[a].x, boxes[a].x + width), (a, b, d)
        for x, y in points[1:-1]:
            for box in svg["boxes"]:
                inside = box.x + 1 < x < box.x + width - 1 and box.y + 1 < y < box.y + height - 1
                assert not inside, f"{a} -> {b} runs through {box.ref} at ({x:.0f}, {y:.0f})"
        assert max(x for x, _ in points) <= svg["width"]
    body = response.content.decode()
    assert 'data-graph-zoom="in"' in body and 'data-graph-zoom="fit"' in body


def test_the_api_refuses_to_write_a_backstage_template(login, platform_admin, import_text):
    import_text(backstage_example("templates/conditional-output-demo.yaml"))
    template = Entity.objects.get(ref_key="template:default/conditional-output-demo")
    document = yaml.safe_load(backstage_example("templates/conditional-output-demo.yaml"))
    client = login(platform_admin)
    assert (
        client.put(f"/api/catalog/entities/{template.pk}/", document, content_type="application/json").status_code
        == 403
    )
    document["metadata"]["name"] = "another-template"
    response = client.post("/api/catalog/entities/", document, content_type="application/json")
    assert response.status_code == 400 and "read-only" in response.json()["error"]["message"]
    assert not Entity.objects.filter(name="another-template").exists()
    assert client.get(f"/api/catalog/entities/{template.pk}/").json()["kind"] == "Template"
