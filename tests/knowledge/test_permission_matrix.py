"""Role × endpoint: who gets through each write endpoint of the HTML views."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from incidents import lifecycle
from knowledge.models import Page

pytestmark = pytest.mark.django_db

ALLOWED = {"developer": True, "teammate": True, "stranger": False, "platform_admin": True}


def endpoints(page):
    key, slug = page.space.key, page.slug
    return {
        "edit page": ("get", reverse("knowledge:page-edit", args=[key, slug]), {}),
        "new page": ("get", reverse("knowledge:page-create", args=[key]), {}),
        "revert": ("post", reverse("knowledge:page-revert", args=[key, slug, 1]), {}),
        "delete": ("post", reverse("knowledge:page-delete", args=[key, slug]), {}),
        "settings": ("get", reverse("knowledge:space-settings", args=[key]), {}),
        "import": ("get", reverse("knowledge:space-import", args=[key]), {}),
        "build": ("post", reverse("knowledge:space-build", args=[key]), {}),
    }


def assert_effect(page, endpoint, response, allowed):
    """Revert and delete answer 302 also when the service refuses: check what happened to the page."""
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    if endpoint == "revert":
        assert page.revisions.count() == (2 if allowed else 1), errors
        if allowed:
            assert page.revisions.first().message == "Reverted to revision 1" and not errors
    elif endpoint == "delete":
        assert Page.objects.filter(pk=page.pk).exists() is not allowed, errors
        if allowed:
            assert not errors


@pytest.mark.parametrize("who", sorted(ALLOWED))
@pytest.mark.parametrize("endpoint", ["edit page", "new page", "revert", "delete", "settings", "import", "build"])
def test_role_by_endpoint_matrix(request, login, page, who, endpoint, settings, tmp_path):
    settings.KNOWLEDGE_SITES_DIR = tmp_path
    client = login(request.getfixturevalue(who))
    method, url, data = endpoints(page)[endpoint]
    response = getattr(client, method)(url, data)
    if ALLOWED[who]:
        assert response.status_code in (200, 302), response.status_code
    else:
        assert response.status_code == 403
    assert_effect(page, endpoint, response, ALLOWED[who])


@pytest.mark.parametrize("endpoint", ["edit page", "new page", "revert", "delete", "settings", "import", "build"])
def test_an_open_space_lets_a_stranger_edit_pages_but_not_manage_the_space(login, stranger, page, endpoint):
    page.space.open_for_edit = True
    page.space.save()
    method, url, data = endpoints(page)[endpoint]
    response = getattr(login(stranger), method)(url, data)
    if endpoint in ("settings", "import", "build"):
        assert response.status_code == 403
    else:
        assert response.status_code in (200, 302)
    assert_effect(page, endpoint, response, endpoint not in ("settings", "import", "build"))


def test_a_refused_delete_is_an_error_message_not_a_silent_redirect(login, developer, runbook):

    lifecycle.incident_start(actor=developer, runbook=runbook, entity=None, severity="sev3")
    response = login(developer).post(reverse("knowledge:page-delete", args=[runbook.space.key, runbook.slug]))
    assert response.status_code == 302
    assert_effect(runbook, "delete", response, allowed=False)
    assert "cannot be deleted" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_every_signed_in_user_reads_history_diff_and_search(login, stranger, page):
    client = login(stranger)
    for url in [
        page.url_for("page-history"),
        page.url_for("page-diff") + "?a=1&b=1",
        reverse("knowledge:page-revision", args=[page.space.key, page.slug, 1]),
        reverse("knowledge:search") + "?q=hello",
        reverse("knowledge:space", args=[page.space.key]),
        reverse("incidents:list"),
    ]:
        assert client.get(url).status_code == 200, url
