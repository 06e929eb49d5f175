"""Browser journeys: Playwright drives Debian's Chromium against a real portal process.

The portal runs as gunicorn on the test database, with a real Celery worker.
Screenshots land in ``test-artifacts/``. With ``BRIDGE_DOCS_SCREENSHOTS`` set to a
directory (``docs/user-guide/img``), the journeys also write the user guide's
screenshots there: viewport-sized, so they stay small.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from tests.worker import ROOT, CeleryWorker, PortalServer, test_database_url

ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM:
        return
    skip = pytest.mark.skip(reason="no Chromium: `apt-get install chromium` (CI installs it), or set CHROMIUM_BIN")
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def portal_url(django_db_setup, django_db_blocker, celery_worker):
    env = os.environ.copy()
    env["DATABASE_URL"] = test_database_url()
    # The same broker as the worker (tests/worker.py): tasks the portal enqueues must reach it.
    # (The environment's BROKER_DATA_DIR may differ from the settings already loaded.)
    env["BROKER_DATA_DIR"] = str(settings.BROKER_DATA_DIR)
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = PortalServer(
        Path(settings.VAR_DIR) / "test-web.log", "--workers", "2", "--threads", "4", "--timeout", "60"
    ).start(env)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread
    while it lives, and Django refuses ORM calls beside a running loop unless told
    otherwise. Only the journey modules get that exemption, and only while they run."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15000)
    return context.new_page()


def screenshot(page, name: str, *, docs: bool = False, scroll_to: str | None = None) -> None:
    """A full-page screenshot in ``test-artifacts/``; with ``docs=True`` and
    ``BRIDGE_DOCS_SCREENSHOTS`` set, also a viewport one for the user guide,
    scrolled so that the ``scroll_to`` element is at the top."""
    if scroll_to:
        page.locator(scroll_to).first.evaluate("element => element.scrollIntoView({block: 'start'})")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    docs_dir = os.environ.get("BRIDGE_DOCS_SCREENSHOTS")
    if docs and docs_dir:
        target = Path(docs_dir) if Path(docs_dir).is_absolute() else ROOT / docs_dir
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=False)


def log_in(page, portal_url: str, username: str, password: str):
    page.goto(f"{portal_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{portal_url}/")
    return page


@contextmanager
def signed_in_page(browser, portal_url: str, username: str, *, width: int, height: int = 900):
    """A page ``width`` px wide in a browser context of its own, signed in as ``username``; closed after."""
    from tests.conftest import PASSWORD

    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15000)
    try:
        page = context.new_page()
        log_in(page, portal_url, username, PASSWORD)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, request):
    page = _new_page(browser)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    page.context.close()


@pytest.fixture
def sign_in(page, portal_url):
    def _sign_in(username: str, password: str):
        return log_in(page, portal_url, username, password)

    return _sign_in


@pytest.fixture
def other_page(browser, portal_url, request):
    """``other_page(username, password)``: a second person, in a browser context of their own."""
    pages = []

    def _open(username: str, password: str):
        pages.append(_new_page(browser))
        return log_in(pages[-1], portal_url, username, password)

    yield _open
    ARTIFACTS.mkdir(exist_ok=True)
    for number, other in enumerate(pages, 1):
        other.screenshot(path=str(ARTIFACTS / f"{request.node.name}-other-{number}.png"), full_page=True)
        other.context.close()


__all__ = ["CeleryWorker", "Path"]
