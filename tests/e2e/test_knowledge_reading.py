"""Reading real pages: code in runbooks and diffs can be read, and long or wide pages keep the
editor usable and the page inside the screen."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RUNBOOK = """# Checkout is down

- [ ] Roll back:

```bash
kubectl rollout undo deployment/checkout-api  # the last good version
```

Then run `kubectl get pods`.
"""

# The WCAG contrast ratio of an element's text colour on the first opaque background behind it.
CONTRAST_JS = """
element => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(channel); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let node = element, bg = null;
  while (node && node.nodeType === 1) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) { bg = c; break; }
    node = node.parentElement;
  }
  bg = bg || [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""

PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WIDEST_JS = """
() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
"""


def _refused(response) -> bool:
    """An error, or a detour to the sign-in page (what the site's assets got without a cookie)."""
    return response.status >= 400 or "login" in (response.headers.get("location") or "")


@pytest.fixture
def runbook(developer):
    from catalog import services as catalog_services
    from catalog.models import Entity
    from knowledge import services as knowledge_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    team = Entity.objects.get(kind="Group", name="team-payments")
    space = knowledge_services.space_create(actor=developer, key="payments", name="Payments", owner=team)
    page = knowledge_services.page_create(actor=developer, space=space, title="Checkout is down", body=RUNBOOK,
                                          kind="runbook")  # fmt: skip
    knowledge_services.page_update(
        actor=developer, page=page, title=page.title, base_revision_id=page.current_revision_id,
        body=RUNBOOK.replace("rollout undo", "rollout restart"),
    )  # fmt: skip
    return page


def test_the_mitigation_command_and_changed_lines_can_be_read(sign_in, portal_url, runbook):
    page = sign_in("dev", PASSWORD)
    page.goto(f"{portal_url}{runbook.get_absolute_url()}")
    command = page.locator(".markdown pre").get_by_text("deployment/checkout-api")
    expect(command).to_be_visible()
    code = [page.locator(".markdown pre").first, *page.locator(".markdown pre span").all()]
    for element in [*code, page.locator(".markdown p code").first]:
        if element.inner_text().strip():
            assert element.evaluate(CONTRAST_JS) >= 4.5, element.inner_text()

    page.goto(f"{portal_url}{runbook.url_for('page-diff')}")
    for line in [page.locator(".kb-diff ins").last, page.locator(".kb-diff del").last]:
        expect(line).to_contain_text("kubectl rollout")
        assert line.evaluate(CONTRAST_JS) >= 4.5


def test_a_page_with_wide_content_keeps_the_editor_and_the_page_inside_the_screen(sign_in, portal_url, runbook):
    from knowledge import services as knowledge_services

    wide = (
        "# Wide\n\n"
        + "| " + " | ".join(f"column-{i}-with-a-long-name" for i in range(60)) + " |\n"
        + "|" + "---|" * 60 + "\n\n"
        + "```\n" + "x" * 3000 + "\n```\n\n"
        + f'<img src="{PIXEL}" width="3220" height="40" alt="wide">\n'
        + "\n".join(f"line {i}" for i in range(400))
    )  # fmt: skip
    knowledge_services.page_update(actor=runbook.updated_by, page=runbook, title=runbook.title, body=wide,
                                   base_revision_id=runbook.current_revision_id)  # fmt: skip
    page = sign_in("dev", PASSWORD)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{portal_url}{runbook.get_absolute_url()}")
        expect(page.locator(".markdown img")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width, page.evaluate(WIDEST_JS)
        image = page.locator(".markdown img").bounding_box()
        column = page.locator(".markdown").bounding_box()
        assert image["x"] + image["width"] <= column["x"] + column["width"] + 1

        page.goto(f"{portal_url}{runbook.url_for('page-edit')}")
        expect(page.locator("#knowledge-preview")).to_contain_text("line 399")
        editor = page.get_by_label("Markdown").bounding_box()
        assert editor["height"] >= 300 and editor["width"] >= min(300, width - 60)
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_built_site_opens_with_its_styles_navigation_and_search_and_nothing_from_elsewhere(
    sign_in, portal_url, runbook
):
    import shutil

    from knowledge import services as knowledge_services
    from knowledge.models import SiteBuild

    space = runbook.space
    build = knowledge_services.site_build_run(
        build_id=SiteBuild.objects.create(space=space, requested_by=runbook.updated_by).pk
    )
    assert build.status == "succeeded", build.log
    try:
        page = sign_in("dev", PASSWORD)
        problems = []
        page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
        page.on("response", lambda r: _refused(r) and problems.append(f"{r.status} {r.url}"))
        page.on("request", lambda r: not r.url.startswith(portal_url) and problems.append(f"elsewhere {r.url}"))
        page.goto(f"{portal_url}{space.get_absolute_url()}")
        problems.clear()  # the portal's own pages are not what is checked here
        page.get_by_role("link", name="Open built site").click()
        page.wait_for_load_state("networkidle")
        assert not problems, problems
        # Bootstrap's stylesheet and the theme's navigation bar are there.
        navbar = page.locator(".navbar").first
        expect(navbar).to_be_visible()
        assert navbar.evaluate("e => getComputedStyle(e).display") == "flex"
        expect(page.get_by_role("link", name="Checkout is down").first).to_be_visible()

        page.get_by_role("link", name="Search").first.click()
        page.locator("#mkdocs-search-query").fill("rollout")
        result = page.locator("#mkdocs-search-results a").first
        expect(result).to_have_text("Checkout is down")
        result.click()
        expect(page.locator("pre")).to_contain_text("kubectl rollout")
        assert not problems, problems
    finally:
        shutil.rmtree(knowledge_services.sites_dir() / space.key, ignore_errors=True)
