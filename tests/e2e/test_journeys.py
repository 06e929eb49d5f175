import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_developer_signs_in_and_sees_the_home_panels(sign_in, developer, portal_url):
    page = sign_in("dev", PASSWORD)
    for title in ("My services", "My environments", "Approvals waiting for me", "Recent pipeline failures"):
        assert page.get_by_role("heading", name=title).is_visible()
    page.screenshot(path=str(ARTIFACTS / "home-developer.png"), full_page=True)
    page.get_by_text("dev", exact=True).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{portal_url}/accounts/login/")


def test_slash_focuses_search_and_suggestions_appear_as_you_type(sign_in, developer, portal_url):
    from catalog import services as catalog_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    page = sign_in("dev", PASSWORD)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("zz")
    page.wait_for_selector("#search-suggestions .suggest-empty, #search-suggestions a")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal_url}/search/?q=zz")
    assert page.get_by_role("heading", name="Search").is_visible()


def test_a_wrong_password_is_refused_politely(page, portal_url, developer):
    page.goto(f"{portal_url}/accounts/login/")
    page.fill("#id_username", "dev")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").is_visible()
    assert "correct username and password" in page.get_by_role("alert").inner_text()
