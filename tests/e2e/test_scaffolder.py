"""Create a service from the "Python service" golden path: form, preview, create, watch, land on the entity.

Real gunicorn and a real Celery worker; the repository is created through the simulated GitHub
API (recorded responses) and pushed with git to the real Git server, then cloned and checked.
"""

import re
import subprocess

import pytest
from playwright.sync_api import expect

from catalog.models import Entity, Relation
from portal.githosts import integrations
from portal.models import GitIntegration
from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

WORKER = 60_000  # ms, on a busy two-core machine


def test_a_developer_creates_a_python_service_and_lands_on_its_catalog_entity(
    sign_in, developer, github_api, git_server, tmp_path
):
    from scaffolder import services

    services.templates_reload(actor=None)
    team = Entity.objects.create(kind="Group", name="payments", ref_key="group:default/payments")
    person = Entity.objects.create(
        kind="User", name=developer.username, portal_user=developer, ref_key=f"user:default/{developer.username}"
    )
    Relation.objects.create(source=team, type="hasMember", target_ref=person.ref, target=person)
    # gunicorn and the worker read integrations from the database (the test's settings do not reach them).
    GitIntegration.objects.create(type="github", host=git_server.host, api_base_url=github_api.api_url,
                                  allow_private_addresses="true")  # fmt: skip
    integrations.forget()

    page = sign_in("dev", PASSWORD)
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_role("link", name="Python service").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create: Python service")
    page.get_by_label("Name").fill("checkout-api")
    page.get_by_label("Owner").select_option("group:default/payments")
    page.locator("#id_destination").select_option(f"github:{git_server.host}")
    page.get_by_label("Organisation or group").fill("acme")
    page.get_by_label("Description").fill("Takes the shop's payments.")
    screenshot(page, "create-service-form", docs=True)
    page.get_by_role("button", name="Preview").click()

    # The preview: every file, before anything leaves the portal.
    page.wait_for_url(re.compile(r"/create/runs/\d+/$"))
    expect(page.locator("#preview")).to_contain_text("catalog-info.yaml")
    expect(page.locator("pre[data-file='catalog-info.yaml']")).to_contain_text("name: checkout-api")
    page.get_by_role("link", name="Dockerfile").click()
    expect(page.locator("pre[data-file='Dockerfile']")).to_contain_text("FROM python:3.12-slim")
    assert "acme/checkout-api" not in github_api.repos
    screenshot(page, "create-service-preview", docs=True, scroll_to="#preview")
    page.get_by_role("button", name="Create").click()

    # The steps finish live, then the developer goes to the new entity.
    expect(page.locator("#run-state")).to_have_text("Succeeded", timeout=WORKER)
    expect(page.locator("li[data-step='push']")).to_contain_text("Pushed")
    screenshot(page, "create-service-done", docs=True, scroll_to="#run-live")
    page.get_by_role("link", name="Open component:default/checkout-api in the catalog").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("checkout-api")
    repository = page.get_by_role("link", name="Repository")
    expect(repository).to_have_attribute("href", f"{git_server.base_url}/acme/checkout-api")

    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", git_server.url("acme/checkout-api"), str(checkout)], check=True)  # noqa: S603, S607
    author = subprocess.run(  # noqa: S603, S607
        ["git", "-C", str(checkout), "log", "--format=%an <%ae>"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert author == "dev <dev@example.com>"
    assert (checkout / "src" / "checkout_api" / "app.py").exists() and (checkout / "docs" / "index.md").exists()
