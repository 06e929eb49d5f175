"""Keyboard only: a person who uses no mouse finds a service and its runbook, and always sees where the focus is."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-pay}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dev}
spec: {memberOf: [team-pay]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments, description: Takes the money}
spec: {type: service, lifecycle: production, owner: team-pay}
"""

# Where the focus is, and whether a person can see it: an outline or a box shadow on the element.
FOCUS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const visible = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
  return {text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 80),
          tag: el.tagName, visible: visible};
}"""


def _tab_to(page, text: str, *, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element's text starts with ``text``; every
    element passed on the way must show that it has the focus."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focus = page.evaluate(FOCUS)
        if focus["tag"] != "BODY":
            assert focus["visible"], f"the focus on {focus['tag']} {focus['text']!r} cannot be seen"
        if focus["text"].startswith(text):
            return
    raise AssertionError(f"{text!r} is not reachable with the Tab key")


@pytest.fixture
def service_with_runbook(developer):
    from catalog import services as catalog
    from catalog.models import Entity
    from knowledge import services as knowledge

    assert not catalog.catalog_import_text(text=CATALOG, name="keyboard").problems
    catalog.portal_user_link(entity=Entity.objects.get(ref_key="user:default/dev"), user=developer)
    team = Entity.objects.get(ref_key="group:default/team-pay")
    service = Entity.objects.get(ref_key="component:default/payments")
    space = knowledge.space_create(actor=developer, key="pay", name="Payments", owner=team)
    knowledge.page_create(
        actor=developer,
        space=space,
        title="Payments are failing",
        kind="runbook",
        body="# Payments are failing\n\n- [ ] Look at the error rate\n- [ ] Roll back the last deploy\n",
        entity_ids=[service.pk],
    )


def test_a_developer_finds_a_service_and_its_runbook_with_the_keyboard_alone(page, portal_url, service_with_runbook):
    # Sign in: type, Tab, type, Enter.
    page.goto(f"{portal_url}/accounts/login/")
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "id_username":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_username"
    assert page.evaluate(FOCUS)["visible"]
    page.keyboard.type("dev")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal_url}/")

    # The first Tab reaches "Skip to content", which shows itself.
    page.keyboard.press("Tab")
    focus = page.evaluate(FOCUS)
    assert focus["text"] == "Skip to content" and focus["visible"]
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()

    # "/" goes to the search box; suggestions come as one types, and Tab walks into them.
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("paym")
    expect(page.locator("#search-suggestions a").first).to_be_visible()
    _tab_to(page, "payments", limit=10)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/catalog/component/default/payments/$", re.IGNORECASE))
    expect(page.get_by_role("heading", level=1)).to_contain_text("payments")

    # The service's Runbooks tab, then the runbook itself.
    _tab_to(page, "Runbooks")
    page.keyboard.press("Enter")
    expect(page.locator("#tab-panel")).to_contain_text("Payments are failing")
    _tab_to(page, "Payments are failing")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Payments are failing")
    expect(page.locator("main")).to_contain_text("Roll back the last deploy")
