"""Signed GitHub webhook deliveries reach the live portal; the worker turns them into runs on the dashboards."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot
from tests.pipelines import payloads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

WORKER = 60_000  # ms; the pipelines pages refresh themselves every 10 s
SLUG = "example/checkout-api"  # the github.com/project-slug annotation of checkout-api in the demo catalog


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _workflow_run(*, run_id, number, branch, status, conclusion=None, minutes_ago=0, minutes=0):
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    payload = payloads.workflow_run(
        action="completed" if status == "completed" else "in_progress",
        status=status,
        conclusion=conclusion,
        run_id=run_id,
        run_number=number,
        head_branch=branch,
        display_title=f"Change {number}",
        created_at=_iso(started),
        run_started_at=_iso(started),
        updated_at=_iso(started + timedelta(minutes=minutes)),
    )
    payload["repository"].update(name="checkout-api", full_name=SLUG, html_url=f"https://github.com/{SLUG}")
    payload["workflow_run"]["repository"]["full_name"] = SLUG
    return payload


def _deliver(url: str, secret: str, event: str, payload: dict) -> requests.Response:
    from pipelines import secrets

    body = json.dumps(payload).encode()
    return requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": secrets.github_signature(secret, body),
        },
        timeout=30,
    )


def test_webhook_deliveries_show_up_as_runs_on_the_pipeline_dashboards(sign_in, developer, platform_admin, portal_url):
    from catalog import services as catalog_services
    from pipelines import services as pipelines_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    github = pipelines_services.integration_create(
        actor=platform_admin, provider="github", name="GitHub example", repositories=[SLUG]
    )
    url = f"{portal_url}{github.integration.receiver_path()}"

    deliveries = [
        _workflow_run(run_id=9001, number=561, branch="main", status="completed", conclusion="success",
                      minutes_ago=50, minutes=6),
        _workflow_run(run_id=9002, number=562, branch="main", status="completed", conclusion="failure",
                      minutes_ago=20, minutes=4),
        _workflow_run(run_id=9003, number=563, branch="fix-rounding", status="in_progress", minutes_ago=2),
    ]  # fmt: skip
    for payload in deliveries:
        response = _deliver(url, github.secret, "workflow_run", payload)
        assert response.status_code in (200, 202), response.text
    forged = _deliver(url, "not-the-secret", "workflow_run", deliveries[0])
    assert forged.status_code == 401

    page = sign_in("dev", PASSWORD)
    page.get_by_role("link", name="Pipelines").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipelines")
    row = page.locator("#pipelines-overview tbody tr", has_text=SLUG)
    expect(row).to_be_visible(timeout=WORKER)  # the page refreshes itself while the worker processes
    expect(row).to_contain_text("checkout-api")
    expect(row.locator("td").nth(2)).to_contain_text("failed", timeout=WORKER)  # default branch: #562
    expect(row.locator("td").nth(3)).to_contain_text("#563", timeout=WORKER)  # latest run, still running
    expect(row.locator("td").nth(3)).to_contain_text("running")
    screenshot(page, "pipelines-overview", docs=True)

    # The service's Pipelines tab on its catalog page.
    page.goto(f"{portal_url}/catalog/component/default/checkout-api/")
    page.locator("nav.tabs").get_by_role("link", name="Pipelines").click()
    runs = page.locator("#tab-panel").locator("section", has_text="Last 20 runs").locator("tbody tr")
    expect(runs).to_have_count(3, timeout=WORKER)
    for number, status in (("#563", "running"), ("#562", "failed"), ("#561", "success")):
        expect(runs.filter(has_text=number)).to_contain_text(status)
    branches = page.locator("#tab-panel").locator("section", has_text="Status per branch")
    expect(branches.locator("tr", has_text="main")).to_contain_text("failed")
    screenshot(page, "pipelines-entity-tab", docs=True)

    # A run's own page.
    runs.filter(has_text="#562").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("562")
    expect(page.locator("main")).to_contain_text("failed")
    screenshot(page, "pipelines-run", docs=True)
