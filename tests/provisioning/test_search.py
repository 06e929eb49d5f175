import pytest
from django.urls import reverse

from tests.provisioning.conftest import submit

pytestmark = pytest.mark.django_db


def test_the_global_search_finds_templates_for_everyone(login, stranger, shipped_templates, enqueued):
    body = login(stranger).get(reverse("search"), {"q": "sandbox"}).content.decode()
    assert "Environment templates" in body
    assert reverse("provisioning:request-new", args=["team-sandbox"]) in body


def test_the_global_search_finds_environments_only_for_who_may_see_them(
    login, developer, stranger, approver, shipped_templates, enqueued
):
    request = submit(developer, shipped_templates["team-sandbox"], name="findme-sbx", size="small", members=2)
    url = reverse("provisioning:request", args=[request.pk])
    assert url in login(developer).get(reverse("search"), {"q": "findme"}).content.decode()
    assert url in login(approver).get(reverse("search"), {"q": "findme"}).content.decode()
    assert url not in login(stranger).get(reverse("search"), {"q": "findme"}).content.decode()
