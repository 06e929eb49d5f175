"""Journeys of the on-call engineer: find a service, open its runbook, work an incident through it."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RUNBOOK = """# Checkout errors are high

Use this page when the checkout error-rate alert fires.

## Steps

- [ ] Open the checkout error-rate dashboard
- [ ] Look at the last deployment on the service's Pipelines tab
- [ ] Roll back if the last deployment caused it
- [ ] Tell #payments-incidents what you saw and what you did
"""


def _checkout_runbook(developer):
    """The demo catalog (imported as a team would) and a runbook the payments team linked to checkout-api."""
    from catalog import services as catalog_services
    from catalog.models import Entity
    from knowledge import services as knowledge_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    team = Entity.objects.get(kind="Group", name="team-payments")
    service = Entity.objects.get(kind="Component", name="checkout-api")
    space = knowledge_services.space_create(actor=developer, key="payments", name="Payments", owner=team)
    return knowledge_services.page_create(
        actor=developer,
        space=space,
        title="Checkout errors are high",
        kind="runbook",
        body=RUNBOOK,
        entity_ids=[service.pk],
    )


def test_a_developer_finds_a_service_with_the_search_and_opens_its_runbook(sign_in, developer, portal_url):
    _checkout_runbook(developer)
    page = sign_in("dev", PASSWORD)

    page.keyboard.press("/")
    page.keyboard.type("checkout")
    suggestion = page.locator("#search-suggestions a[role=option]", has_text="checkout-api").first
    suggestion.wait_for()
    screenshot(page, "find-a-service-suggestions", docs=True)
    suggestion.click()

    page.wait_for_url(re.compile(r"/catalog/component/default/checkout-api/?$", re.IGNORECASE))
    expect(page.get_by_role("heading", level=1)).to_contain_text("checkout-api")
    expect(page.get_by_text("Takes orders and hands them to payments.")).to_be_visible()
    screenshot(page, "find-a-service-entity", docs=True)

    page.locator("nav.tabs").get_by_role("link", name="Runbooks").click()
    runbook_link = page.locator("#tab-panel").get_by_role("link", name="Checkout errors are high")
    runbook_link.wait_for()
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Runbooks")
    screenshot(page, "find-a-service-runbooks-tab", docs=True)

    runbook_link.click()
    page.wait_for_url(f"{portal_url}/knowledge/s/payments/p/checkout-errors-are-high/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout errors are high")
    expect(page.get_by_text("Open the checkout error-rate dashboard")).to_be_visible()
    expect(page.get_by_role("heading", name="Start incident")).to_be_visible()
    screenshot(page, "find-a-service-runbook", docs=True)


def test_an_on_call_engineer_works_an_incident_through_a_runbook(sign_in, developer, portal_url):
    runbook = _checkout_runbook(developer)
    page = sign_in("dev", PASSWORD)
    page.goto(f"{portal_url}{runbook.get_absolute_url()}")

    start = page.locator("form", has=page.get_by_role("button", name="Start incident"))
    start.get_by_label("Service").select_option(label="component:default/checkout-api")
    start.get_by_label("Severity").select_option("sev2")
    start.get_by_label("Summary").fill("Checkout error rate at 12% since 14:02")
    screenshot(page, "incident-start", docs=True)
    start.get_by_role("button", name="Start incident").click()

    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout errors are high")
    expect(page.get_by_role("heading", level=1)).to_contain_text("open")
    steps = page.locator(".kb-steps li")
    expect(steps).to_have_count(4)

    # Ticking a step saves it at once (htmx), with who did it.
    page.get_by_label("Note for step 1").fill("5xx from the payments client only")
    steps.nth(0).get_by_role("checkbox").check()
    expect(steps.nth(0)).to_contain_text("done by dev", timeout=15000)
    steps.nth(1).get_by_role("checkbox").check()
    expect(steps.nth(1)).to_contain_text("done by dev", timeout=15000)
    screenshot(page, "incident-steps", docs=True)

    # The ticks were stored, not only drawn: they survive a reload.
    page.reload()
    expect(page.locator(".kb-steps li.done")).to_have_count(2)
    expect(page.get_by_label("Note for step 1")).to_have_value("5xx from the payments client only")

    close = page.locator("form", has=page.get_by_role("button", name="Close incident"))
    close.get_by_label("Outcome").select_option("mitigated")
    close.get_by_label("Notes").fill("Rolled back deployment 562; error rate back under 0.1%.")
    close.get_by_role("button", name="Close incident").click()

    expect(page.get_by_text("Incident closed.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mitigated")
    expect(page.get_by_role("heading", name="Outcome")).to_be_visible()
    expect(page.get_by_role("button", name="Close incident")).to_have_count(0)
    screenshot(page, "incident-closed", docs=True)

    page.goto(f"{portal_url}{runbook.get_absolute_url()}")
    expect(page.locator(".kb-side").get_by_text("Mitigated")).to_be_visible()
