"""Long branch names: every pipelines page stays inside the screen, the full name on hover and on focus."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# 255 characters, as Git allows, with nothing a browser may break a line at (no space, no hyphen)
BRANCH = "feature/" + "_".join(["a_very_long_topic_name"] * 11)[:247]
OTHER = "renovate/" + "x" * 246
CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  annotations: {github.com/project-slug: acme/payments}
spec: {type: service, lifecycle: production, owner: group:default/team-a}
"""
PAGES = [
    "/pipelines/",
    "/pipelines/entity/component/default/payments/",
    "/pipelines/team/default/team-a/",
    "/pipelines/entity/component/default/payments/dora/",
]
HOSTILE = '<img src=x onerror="document.title=1"> Round half to even'  # a commit title is someone else's text


@pytest.fixture
def long_branches(developer):
    from catalog import services as catalog
    from pipelines import providers, services

    result = catalog.catalog_import_text(text=CATALOG, name="long-branches")
    assert not result.problems, result.problems
    repo = providers.RepoInfo(provider="github", slug="acme/payments", default_branch=BRANCH)
    now = timezone.now()
    for number, (branch, status) in enumerate(((BRANCH, "failed"), (OTHER, "success"), (BRANCH, "running")), 1):
        services.run_upsert(
            event=providers.RunEvent(
                repo=repo,
                pipeline_name="CI",
                run_id=str(number),
                attempt=1,
                number=number,
                status=status,
                conclusion={"failed": "failure", "success": "success"}.get(status, ""),
                created_at=now - timedelta(minutes=30 - number),
                started_at=now - timedelta(minutes=30 - number),
                finished_at=now - timedelta(minutes=20 - number) if status != "running" else None,
                branch=branch,
                commit_sha="a" * 40,
                title=HOSTILE * 2,
                actor="octocat",
                event="pull_request",
            )
        )
    services.deployment_upsert(
        event=providers.DeploymentEvent(
            repo=repo,
            deployment_id="9",
            environment="production",
            status="success",
            created_at=now - timedelta(minutes=5),
            finished_at=now - timedelta(minutes=4),
            ref=BRANCH,
            commit_sha="a" * 40,
            commit_at=now - timedelta(hours=2),
        )
    )
    assert len(BRANCH) == len(OTHER) == 255


@pytest.mark.parametrize("width", [1280, 390])
def test_pipeline_pages_with_255_character_branch_names_fit_the_screen(
    browser, portal_url, long_branches, width, developer
):
    from tests.e2e.conftest import ARTIFACTS, signed_in_page

    with signed_in_page(browser, portal_url, "dev", width=width) as page:
        for path in PAGES:
            page.goto(portal_url + path)
            expect(page.locator("main")).to_contain_text("feature/a_very_long")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"long-branches-{width}{path.replace('/', '-')}.png"), full_page=True)
            content, room = page.evaluate("[document.querySelector('main').scrollWidth, window.innerWidth]")
            assert content <= room, f"{path}: the content is {content} px wide on a {width} px screen"
            if width >= 1280:  # on a phone the site's top bar itself is wider than the screen; not the pipelines'
                page_width = page.evaluate("document.documentElement.scrollWidth")
                assert page_width <= width, f"{path} is {page_width} px wide on a {width} px screen"
            # Cut in the middle: the start and the end show; the whole name is one hover or one Tab away.
            name = page.locator(f'[data-full="{BRANCH}"]').first
            expect(name).to_be_visible()
            expect(name).to_have_attribute("title", BRANCH)
            expect(name).to_have_attribute("tabindex", "0")
            box = name.bounding_box()
            assert box["width"] <= 320  # about 28 characters, not 255
            name.focus()
            expect(name).to_be_focused()
            full = name.locator(".mid-full").bounding_box()
            assert full["height"] > 30 and full["width"] > 100, "on focus the whole name shows, wrapped"

        # A run's own page shows the whole name, wrapped; the hostile title is text, not markup.
        page.goto(portal_url + "/pipelines/")
        page.locator("#pipelines-overview a", has_text="#3").first.click()
        expect(page.locator("main")).to_contain_text(BRANCH)
        expect(page.locator("main")).to_contain_text('<img src=x onerror="document.title=1">')
        assert page.title() != "1"
        content, room = page.evaluate("[document.querySelector('main').scrollWidth, window.innerWidth]")
        assert content <= room, f"the run page's content is {content} px wide on a {width} px screen"
        page.screenshot(path=str(ARTIFACTS / f"long-branches-{width}-run.png"), full_page=True)

        # The service's Pipelines tab on its catalog page.
        page.goto(f"{portal_url}/catalog/component/default/payments/")
        page.locator("nav.tabs").get_by_role("link", name="Pipelines").click()
        expect(page.locator("#tab-panel")).to_contain_text("Last 20 runs")
        tab_width = page.evaluate("document.querySelector('#tab-panel').scrollWidth")
        panel_width = page.evaluate("document.querySelector('#tab-panel').clientWidth")
        assert tab_width <= panel_width, f"the Pipelines tab is {tab_width} px wide in a {panel_width} px panel"
        if width >= 1280:
            assert page.evaluate("document.documentElement.scrollWidth") <= width
