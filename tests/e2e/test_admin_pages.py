"""The admin's read-only pages of what senders posted stay inside the screen.

Webhook deliveries and Alertmanager notifications are other people's text: a delivery id of
175 characters, a body line of 3,000, markup in a header. Django's admin shows them as read-only
fields, which do not wrap an unbroken string by themselves (`static/css/admin.css` makes them).
"""

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

SCRIPT = "<script>document.title='pwned'</script>"
DELIVERY_ID = SCRIPT + "a" * 150


@pytest.fixture
def posted(platform_admin):
    from incidents.models import AlertNotification, AlertReceiver
    from pipelines.models import Delivery, Integration

    integration = Integration.objects.create(provider="github", name="I" * 60, secret_encrypted="unused")
    delivery = Delivery.objects.create(
        integration=integration,
        delivery_id=DELIVERY_ID,
        event="push",
        headers={"X-Evil": "<b>" + "h" * 400 + "</b>"},
        body=json.dumps({"ref": "x" * 3000}) + "\nline two",
        error="e" * 500,
    )
    receiver = AlertReceiver.objects.create(name="r" * 60, token_prefix="abc", token_encrypted="unused")
    notification = AlertNotification.objects.create(
        receiver=receiver,
        body=json.dumps({"alerts": [{"labels": {"alertname": "A" * 2000}}]}),
        received_at=timezone.now(),
        error=SCRIPT + "E" * 800,
        incidents=["i" * 300],
    )
    return [
        f"/admin/pipelines/delivery/{delivery.pk}/change/",
        "/admin/pipelines/delivery/",
        f"/admin/incidents/alertnotification/{notification.pk}/change/",
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_read_only_admin_pages_of_posted_text_fit_the_screen(browser, portal_url, posted, width):
    from tests.e2e.conftest import ARTIFACTS, signed_in_page

    with signed_in_page(browser, portal_url, "padmin", width=width) as page:
        for path in posted:
            response = page.goto(portal_url + path)
            assert response.status == 200, path
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"admin-{width}{path.replace('/', '-')}.png"), full_page=True)
            page_width = page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= width, f"{path} is {page_width} px wide on a {width} px screen"
            assert page.title() != "pwned"
        expect(page.locator("#content")).to_contain_text(SCRIPT)  # the sender's markup is shown as text
