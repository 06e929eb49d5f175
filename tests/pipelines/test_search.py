import pytest
from django.urls import reverse

from tests.pipelines import payloads

pytestmark = pytest.mark.django_db


def test_the_global_search_finds_pipelines_by_repository(login, developer, send_github):
    send_github("workflow_run", payloads.workflow_run(conclusion="failure"))
    body = login(developer).get(reverse("search"), {"q": "acme/pay"}).content.decode()
    assert "<h2>Pipelines" in body
    assert "acme/payments · CI" in body
