"""Reading the catalog in a browser: the API Definition tab, the dependency graph, the import result.

Chromium at 1920, 1280 and 390 px, with names and titles as long (and as hostile) as descriptors allow.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

BACKSTAGE = Path(__file__).parent.parent / "catalog" / "backstage"
HOSTILE = '<img src=x onerror="document.title=1">'
LONG = "a-very-long-service-name-that-fills-all-sixty-three-characters-x"[:63]


def _graph_catalog() -> str:
    """A centre that 30 services need and that needs 30 (each level wraps into two columns), plus
    dependencies between neighbours of one column: the edges that used to be drawn backwards."""
    docs = [
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}",
    ]
    deps = [f"{LONG[:58]}-d{i:02d}" for i in range(30)]
    users = [f"{LONG[:58]}-u{i:02d}" for i in range(30)]
    docs.append(_component("centre", deps, title=f"{HOSTILE} centre " + "w" * 150))
    for i, name in enumerate(deps):
        docs.append(_component(name, [deps[i + 1]] if i % 3 == 0 and i + 1 < len(deps) else [], title=HOSTILE + name))
    for name in users:
        docs.append(_component(name, ["centre"]))
    return "\n---\n".join(docs) + "\n"


def _component(name: str, depends_on: list[str], title: str = "") -> str:
    title_line = f"  title: '{title}'\n" if title else ""
    deps = ", ".join(f"component:{d}" for d in depends_on)
    return (
        f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n{title_line}"
        f"spec: {{type: service, lifecycle: production, owner: team-a, dependsOn: [{deps}]}}"
    )


@pytest.fixture
def reading_catalog(developer):
    from catalog import services

    for text, name in (
        (_graph_catalog(), "graph"),
        ((BACKSTAGE / "apis" / "petstore-api.yaml").read_text(), "petstore"),
        ((BACKSTAGE / "apis" / "hello-world-api.yaml").read_text(), "grpc"),
    ):
        result = services.catalog_import_text(text=text, name=name)
        assert not result.problems, result.problems


def _page(browser, portal_url, width: int, height: int = 900):
    from tests.e2e.conftest import log_in

    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(20000)
    page = context.new_page()
    log_in(page, portal_url, "dev", PASSWORD)
    return page


def _shot(page, name: str) -> None:
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"catalog-reading-{name}.png"), full_page=True)


def test_an_openapi_definition_renders_in_swagger_ui_from_the_portal_itself(browser, portal_url, reading_catalog):
    page = _page(browser, portal_url, 1280)
    refused, elsewhere = [], []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(portal_url) else None)
    try:
        page.goto(f"{portal_url}/catalog/API/default/petstore/")
        page.locator("nav.tabs").get_by_role("link", name="Definition").click()  # through htmx
        ui = page.locator(".openapi-ui .swagger-ui")
        expect(ui.locator(".opblock").first).to_be_visible()
        expect(ui).to_contain_text("/pets")
        expect(ui).to_contain_text("Swagger Petstore")
        # No "Try it out": this page describes the API, it does not call it.
        expect(ui.get_by_role("button", name="Try it out")).to_have_count(0)
        _shot(page, "openapi")
        # Loaded directly too (no htmx), and a gRPC definition is highlighted source.
        page.goto(f"{portal_url}/catalog/API/default/petstore/?tab=definition")
        expect(page.locator(".openapi-ui .swagger-ui .opblock").first).to_be_visible()
        page.goto(f"{portal_url}/catalog/API/default/hello-world/?tab=definition")
        expect(page.locator(".definition-code .highlight")).to_contain_text("HelloRequest")
        assert page.locator(".definition-code .highlight .k").count() > 0
        assert refused == [], refused
        assert elsewhere == [], elsewhere
    finally:
        page.context.close()
    # On a phone, Swagger UI scrolls inside its card; the page does not scroll sideways.
    phone = _page(browser, portal_url, 390)
    try:
        phone.goto(f"{portal_url}/catalog/API/default/petstore/?tab=definition")
        expect(phone.locator(".openapi-ui .swagger-ui .opblock").first).to_be_visible()
        content = phone.evaluate("document.querySelector('main').scrollWidth")
        assert content <= 390, f"the Definition tab is {content} px wide on a 390 px screen"
        _shot(phone, "openapi-390")
    finally:
        phone.context.close()


@pytest.mark.parametrize("width", [1920, 1280, 390])
def test_the_dependency_graph_uses_the_window_and_zooms(browser, portal_url, reading_catalog, width):
    page = _page(browser, portal_url, width)
    try:
        page.goto(f"{portal_url}/catalog/Component/default/centre/?tab=graph&depth=2")
        graph = page.locator(".graph-scroll")
        expect(graph.locator("svg.dependency-graph")).to_be_visible()
        assert page.title() != "1"
        box = graph.bounding_box()
        if width >= 1280:
            # The window's width less 1.5rem each side, not the 1,200 px page column (1,116 px before).
            assert box["width"] >= width - 60, f"the graph is {box['width']} px wide in a {width} px window"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        overflowing = page.evaluate(
            """(() => [document.querySelector('main'), ...document.querySelectorAll('main *')]
                 .filter(e => e.scrollWidth > e.clientWidth + 1)
                 .map(e => [e.tagName + '.' + e.className + '#' + e.id, e.scrollWidth, e.clientWidth,
                  getComputedStyle(e).overflowX]))()"""
        )
        content = page.evaluate("document.querySelector('main').scrollWidth")
        assert content <= width, f"the page content is {content} px wide on a {width} px screen ({overflowing})"
        svg = graph.locator("svg.dependency-graph")
        natural = float(svg.get_attribute("data-width"))
        scroll_width, client_width = page.evaluate(
            "(() => { const g = document.querySelector('.graph-scroll'); return [g.scrollWidth, g.clientWidth]; })()"
        )
        if natural > client_width:
            assert scroll_width > client_width  # it scrolls inside its box
        page.get_by_role("button", name="Zoom in").click()
        assert float(svg.get_attribute("width")) == pytest.approx(natural * 1.25, abs=1)
        page.get_by_role("button", name="Fit to width").click()
        fitted = float(svg.get_attribute("width"))
        assert fitted <= client_width
        page.get_by_role("button", name="100%").click()
        assert float(svg.get_attribute("width")) == pytest.approx(natural, abs=1)
        _shot(page, f"graph-{width}")
    finally:
        page.context.close()


def test_the_import_result_stays_inside_its_card_at_1280_px(browser, portal_url, platform_admin, reading_catalog):
    from tests.e2e.conftest import log_in

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20000)
    page = context.new_page()
    try:
        log_in(page, portal_url, "padmin", PASSWORD)
        page.goto(f"{portal_url}/catalog/import/")
        bad = "\n---\n".join(
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {'x' * 200}{i}}}\n"
            f"spec: {{type: service, lifecycle: production, owner: '{HOSTILE}{'y' * 150}'}}"
            for i in range(3)
        )
        # The graph's components belong to another source: listing them here is a conflict.
        page.fill("#id_text", _graph_catalog() + "---\n" + bad + "\n")
        page.fill("#id_name", "wide-" + "z" * 80)
        page.locator("form.entity-form button[type=submit]").first.click()
        card = page.locator("#import-result")
        expect(card).to_contain_text("Problems")
        expect(card).to_contain_text("another source owns")
        assert page.title() != "1"
        inner, outer = page.evaluate(
            "(() => { const c = document.querySelector('#import-result'); return [c.scrollWidth, c.clientWidth]; })()"
        )
        assert inner <= outer, f"the import result is {inner} px wide in a {outer} px card"
        for table in page.locator("#import-result table").all():
            table_box, card_box = table.bounding_box(), card.bounding_box()
            assert table_box["x"] >= card_box["x"]
            assert page.evaluate(
                "t => t.parentElement.clientWidth <= t.closest('.card').clientWidth", table.element_handle()
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        _shot(page, "import-result")
    finally:
        context.close()


_LINES = """(cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_catalog_list_keeps_kinds_and_lifecycles_whole_and_on_a_phone_labels_each_line(
    browser, portal_url, reading_catalog, width
):
    page = _page(browser, portal_url, width)
    try:
        page.goto(f"{portal_url}/catalog/?kind=Component")
        row = page.locator(".catalog-table tbody tr").first
        for label, text in (("Kind", "Component"), ("Type", "service"), ("Lifecycle", "production")):
            cell = row.locator(f'td[data-label="{label}"]')
            expect(cell).to_have_text(text)
            assert cell.evaluate(_LINES) == 1, f"{label} '{text}' breaks over lines at {width} px"
        for heading in ("Kind", "Lifecycle"):
            assert page.get_by_role("link", name=heading, exact=True).evaluate(_LINES) == 1
        if width == 390:  # one entity per block: each value below the name, with its label
            name_cell, kind_cell = row.locator("td").nth(0), row.locator('td[data-label="Kind"]')
            assert (
                kind_cell.bounding_box()["y"] > name_cell.bounding_box()["y"] + name_cell.bounding_box()["height"] - 1
            )
            label = kind_cell.evaluate("(cell) => getComputedStyle(cell, '::before').content")
            assert label == '"Kind: "'
            expect(row.locator('td[data-label="System"]')).to_be_hidden()  # no system: no empty "System:" line
        assert page.evaluate("document.querySelector('main').scrollWidth") <= width
        _shot(page, f"list-{width}")
    finally:
        page.context.close()
