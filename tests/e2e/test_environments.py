"""Request an environment, approve it as someone else, follow the apply live, destroy it.

Real gunicorn, a real Celery worker and the real Terraform binary on a shipped template;
without a Kubernetes cluster the cluster step is skipped, saying why.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

WORKER = 90_000  # ms: Terraform init + plan or apply on a busy two-core machine


def _state(page):
    return page.locator("#request-live h2 .badge")


def test_a_developer_requests_an_environment_an_approver_approves_it_and_it_is_destroyed(
    sign_in, other_page, developer, approver, portal_url
):
    from catalog import services as catalog_services
    from provisioning import services as provisioning_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    provisioning_services.templates_reload()

    # The developer fills in the template's form.
    page = sign_in("dev", PASSWORD)
    page.get_by_role("link", name="Environments").first.click()
    page.get_by_role("link", name="Team sandbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request: Team sandbox")
    page.get_by_label("Name").fill("checkout-sbx")
    page.get_by_label("Belongs to").select_option(label="component:default/checkout-api")
    page.get_by_label("Owning team").select_option(label="group:default/team-payments")
    page.get_by_label("Justification").fill("Load-test the new checkout flow before Black Friday.")
    page.get_by_label("medium").check()
    page.get_by_label("Team members").fill("4")
    screenshot(page, "request-environment-form", docs=True)
    page.get_by_role("button", name="Submit request").click()

    # The request page follows the worker's plan by itself.
    page.wait_for_url(re.compile(r"/environments/requests/\d+/$"))
    request_url = page.url
    expect(page.get_by_text("Terraform is planning it")).to_be_visible()
    expect(_state(page)).to_have_text("Awaiting approval", timeout=WORKER)
    expect(page.locator("#request-live .plan-counts")).to_contain_text("to add")
    expect(page.locator("#request-live")).to_contain_text("Waiting for approval: 0 of 1.")
    expect(page.locator("#log-section")).to_contain_text("terraform plan")
    expect(page.get_by_role("button", name="Approve and apply")).to_have_count(0)  # not by the requester
    screenshot(page, "request-environment-planned", docs=True, scroll_to="#request-live")

    # The approver, in a browser of their own, finds it in the queue and approves it.
    approver_page = other_page("appr", PASSWORD)
    approver_page.goto(f"{portal_url}/environments/approvals/")
    card = approver_page.locator("article.approval", has_text="checkout-sbx")
    expect(card.locator(".plan-counts")).to_contain_text("to add")
    expect(card).to_contain_text("Load-test the new checkout flow")
    screenshot(approver_page, "approve-queue", docs=True)
    card.get_by_role("link", name="checkout-sbx").click()
    approver_page.wait_for_url(request_url)
    approver_page.get_by_label("Comment (optional)").fill("Fine for a week.")
    screenshot(approver_page, "approve-request", docs=True)
    approver_page.get_by_role("button", name="Approve and apply").click()

    # The apply runs on the worker; the page updates itself (no reload) until the environment is active.
    expect(approver_page.get_by_text("You approved checkout-sbx.")).to_be_visible()
    expect(_state(approver_page)).to_have_text("Active", timeout=WORKER)
    live = approver_page.locator("#request-live")
    expect(live.locator("li", has_text="Apply #")).to_contain_text("Succeeded")
    expect(live).to_contain_text("internal only")  # a Terraform output (no cluster: the namespace output is empty)
    expect(approver_page.locator("#log-section")).to_contain_text("kubernetes: skipped", timeout=30_000)
    expect(approver_page.locator("#log-section h2")).to_contain_text("Apply")
    expect(approver_page.locator("#log-run-status")).to_have_text("Succeeded", timeout=30_000)
    environment = approver_page.locator("#environment")
    expect(environment).to_contain_text("skipped")
    expect(approver_page.get_by_role("button", name="Destroy")).to_have_count(0)  # not their team's
    screenshot(approver_page, "approve-applied", docs=True, scroll_to="#request-live")

    # The developer destroys it, confirming with its name, and sees it go.
    page.goto(request_url)
    expect(_state(page)).to_have_text("Active")
    expect(page.locator("#environment")).to_contain_text("Kubernetes")
    screenshot(page, "request-environment-active", docs=True, scroll_to="#environment")
    page.get_by_label("Type checkout-sbx to confirm destroying it").fill("checkout-sbx")
    page.get_by_role("button", name="Destroy").click()
    expect(page.get_by_text("Destroying checkout-sbx")).to_be_visible()
    expect(_state(page)).to_have_text("Destroyed", timeout=WORKER)
    expect(page.locator("#request-live li", has_text="Destroy #")).to_contain_text("Succeeded")
    expect(page.locator("#environment")).to_contain_text("destroyed")
    expect(page.locator("#log-section h2")).to_contain_text("Destroy")
    expect(page.locator("#log-run-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.get_by_role("button", name="Destroy")).to_have_count(0)
    screenshot(page, "request-environment-destroyed", docs=True, scroll_to="#request-live")
