"""Edit a knowledge page in the browser, then bring the earlier text back from its history."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ORIGINAL = "# Release checklist\n\nDeploy on Tuesdays only, after the change review.\n"
EDITED = "# Release checklist\n\nDeploy any weekday before 15:00.\n\n- [ ] Announce it in #releases\n"


def test_a_team_member_edits_a_page_and_reverts_it_from_the_history(sign_in, developer, portal_url):
    from catalog import services as catalog_services
    from catalog.models import Entity
    from knowledge import services as knowledge_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    team = Entity.objects.get(kind="Group", name="team-payments")
    space = knowledge_services.space_create(actor=developer, key="payments", name="Payments", owner=team)
    page_obj = knowledge_services.page_create(
        actor=developer, space=space, title="Release checklist", body=ORIGINAL, message="First version"
    )

    page = sign_in("dev", PASSWORD)
    page.goto(f"{portal_url}{page_obj.get_absolute_url()}")
    expect(page.get_by_text("Deploy on Tuesdays only")).to_be_visible()
    page.get_by_role("link", name="Edit", exact=True).click()

    # The Markdown editor with its live preview.
    page.get_by_label("Markdown").fill(EDITED)
    expect(page.locator("#knowledge-preview")).to_contain_text("Deploy any weekday before 15:00.")
    page.get_by_label("What did you change?").fill("Allow deploys on any weekday")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.locator(".markdown")).to_contain_text("Deploy any weekday before 15:00.")
    expect(page.locator(".markdown")).not_to_contain_text("Tuesdays")
    expect(page.locator(".kb-header")).to_contain_text("Revision 2")

    page.get_by_role("link", name="History").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Allow deploys on any weekday")
    expect(rows.nth(0)).to_contain_text("current")
    expect(rows.nth(1)).to_contain_text("First version")
    screenshot(page, "knowledge-history", docs=True)

    rows.nth(1).get_by_role("link", name="1", exact=True).click()
    expect(page.get_by_text("Deploy on Tuesdays only")).to_be_visible()
    page.get_by_role("button", name="Revert to this revision").click()

    expect(page.get_by_text("Reverted: revision 3 has the text of revision 1.")).to_be_visible()
    expect(page.locator(".markdown")).to_contain_text("Deploy on Tuesdays only, after the change review.")
    expect(page.locator(".markdown")).not_to_contain_text("any weekday")
    expect(page.locator(".kb-header")).to_contain_text("Revision 3")
    screenshot(page, "knowledge-reverted")
