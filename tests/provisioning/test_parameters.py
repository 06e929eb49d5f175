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


def _post(client, body):
    return client.post(f"{API}/requests/", body, content_type="application/json")


def _body(**parameters):
    return {"template": "internal", "name": "shop", "justification": "Try it.", "parameters": parameters}


def test_the_api_refuses_parameters_the_template_does_not_declare_and_names_them(
    login, developer, test_templates, enqueued
):
    response = _post(login(developer), _body(app="shop", allowed_cidr="0.0.0.0/0", backups_enabled=False))
    assert response.status_code == 400
    message = " ".join(response.json()["error"]["details"]["parameters"])
    assert "'allowed_cidr'" in message and "'backups_enabled'" in message
    assert "It takes: app, notes." in message
    assert not EnvironmentRequest.objects.exists()


def test_the_form_refuses_a_parameter_it_does_not_offer(login, developer, test_templates, enqueued):
    response = login(developer).post(
        reverse("provisioning:request-new", args=["internal"]),
        {"name": "shop", "ttl_hours": 1, "justification": "Try it.", "p_app": "shop", "p_backups_enabled": "false"},
    )
    assert response.status_code == 400
    assert "This template has no parameter &#x27;backups_enabled&#x27;" in response.content.decode()
    assert not EnvironmentRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_undeclared_value_stored_earlier_never_reaches_terraform(developer, test_templates, enqueued):
    from tests.provisioning.conftest import run_queued

    request = submit(developer, test_templates["internal"], name="shop", app="shop")
    # A request stored before the rule existed, with a key the template never offered.
    EnvironmentRequest.objects.filter(pk=request.pk).update(
        parameters={"app": "shop", "backups_enabled": False, "allowed_cidr": "0.0.0.0/0"}
    )
    assert run_queued(request) == ["succeeded"]  # plan, auto-approved
    assert run_queued(request) == ["succeeded"]  # apply
    assert request.outputs["backups_enabled"]["value"] is True
    assert request.outputs["allowed_cidr"]["value"] == "10.0.0.0/8"


@pytest.mark.parametrize("size", [4097, 1024 * 1024])
def test_a_huge_value_is_refused_even_without_a_max_length(login, developer, test_templates, enqueued, size):
    response = _post(login(developer), _body(app="shop", notes="x" * size))
    assert response.status_code == 400
    assert response.json()["error"]["details"]["notes"] == ["Keep it under 4,096 characters."]
    assert not EnvironmentRequest.objects.exists()


def test_every_parameter_mistake_is_reported_at_once(login, developer, shipped_templates, enqueued):
    response = _post(
        login(developer),
        {
            "template": "preview",
            "name": "pr",
            "justification": "x",
            "parameters": {"app": "Not A Label", "replicas": 9, "colour": "red", "branch": "x" * 5000},
        },
    )
    details = response.json()["error"]["details"]
    assert set(details) == {"app", "replicas", "branch", "parameters"}


@pytest.mark.parametrize(
    "parameters",
    [
        {"app": "shop\x00evil"},
        {"app": "shop", "notes": "a\x00b"},
        {"app": "shop", "no\x00tes": "x"},
        {"app": ["shop"]},
        {"app": "shop", "notes": {"nested": "\x00"}},
    ],
)
def test_a_nul_character_or_a_nested_value_is_a_400_not_a_server_error(
    login, developer, test_templates, enqueued, parameters
):
    # PostgreSQL cannot store NUL in text or jsonb: without the check this was a 500 there.
    response = _post(login(developer), _body(**parameters))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert not EnvironmentRequest.objects.exists()


def test_a_nul_character_in_the_form_is_a_400(login, developer, test_templates, enqueued):
    response = login(developer).post(
        reverse("provisioning:request-new", args=["internal"]),
        {"name": "shop", "ttl_hours": 1, "justification": "Try it.", "p_app": "shop", "p_notes": "a\x00b"},
    )
    assert response.status_code == 400
    assert not EnvironmentRequest.objects.exists()
