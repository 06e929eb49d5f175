"""What requesters may send as parameters: declared ones only, of bounded size, in the author's order."""

import re

import pytest
from django.urls import reverse

from provisioning.models import EnvironmentRequest
from tests.provisioning.conftest import submit

pytestmark = pytest.mark.django_db

API = "/api/provisioning"


def _field_names(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'name="(p_[a-z_]+)"', html)))


def test_the_form_shows_the_parameters_in_the_order_the_descriptor_gives(login, developer, shipped_templates):
    # PostgreSQL's jsonb sorts object keys by length: app, debug, branch, replicas.
    page = login(developer).get(reverse("provisioning:request-new", args=["preview"])).content.decode()
    assert _field_names(page) == ["p_app", "p_branch", "p_replicas", "p_debug"]
    page = login(developer).get(reverse("provisioning:request-new", args=["staging-stack"])).content.decode()
    assert _field_names(page) == ["p_service", "p_tier", "p_replicas", "p_db_storage_gb", "p_region"]


def test_the_request_page_and_the_api_list_parameters_in_the_descriptor_order(
    login, developer, shipped_templates, enqueued
):
    request = submit(developer, shipped_templates["preview"], app="checkout", debug=True)
    page = login(developer).get(reverse("provisioning:request", args=[request.pk])).content.decode()
    shown = re.findall(r"<li><code>([a-z_]+)</code> = ", page)
    assert shown == ["app", "branch", "replicas", "debug"]
    body = login(developer).get(f"{API}/requests/{request.pk}/").json()
    assert list(body["parameters"]) == ["app", "branch", "replicas", "debug"]
    template = login(developer).get(f"{API}/templates/preview/").json()
    assert template["parameter_order"] == ["app", "branch", "replicas", "debug"]
    assert list(template["parameters_schema"]["properties"]) == ["app", "branch", "replicas", "debug"]
    assert EnvironmentRequest.objects.count() == 1
