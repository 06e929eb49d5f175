import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PANELS = ("My services", "My environments", "Approvals waiting for me", "Recent pipeline failures")


@pytest.mark.parametrize("role", ["developer", "approver", "platform_admin"])
def test_the_home_page_shows_four_panels_with_bounded_queries(role, request, login, django_assert_max_num_queries):
    user = request.getfixturevalue(role)
    client = login(user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    for title in PANELS:
        assert title in body
    assert "None of your teams owns a service yet" in body
    assert "You have no environments" in body


def test_the_approvals_link_shows_for_approvers_only(login, developer, approver):
    assert 'href="/environments/approvals/"' not in login(developer).get(reverse("home")).content.decode()
    assert 'href="/environments/approvals/"' in login(approver).get(reverse("home")).content.decode()


def test_the_approvals_page_is_refused_to_developers(login, developer):
    response = login(developer).get(reverse("provisioning:approvals"))
    assert response.status_code == 403
    assert "Only Approvers" in response.content.decode()


def test_the_admin_link_shows_for_platform_admins_only(login, approver, platform_admin):
    assert 'href="/admin/"' not in login(approver).get(reverse("home")).content.decode()
    assert 'href="/admin/"' in login(platform_admin).get(reverse("home")).content.decode()


def test_pages_load_nothing_from_other_hosts(login, developer):
    body = login(developer).get(reverse("home")).content.decode()
    assert "/static/django-htmx.js" in body or "htmx" in body
    for marker in ('src="http', "src='http", 'href="http', "//cdn", "unpkg", "jsdelivr"):
        assert marker not in body


def test_the_home_page_lists_services_owned_by_my_team(login, developer):
    from catalog import services as catalog_services

    catalog_services.demo_catalog_ensure(users={"dev": developer})
    body = login(developer).get(reverse("home")).content.decode()
    assert "checkout-api" in body
    assert "None of your teams owns a service yet" not in body


def test_unknown_pages_get_the_styled_404(login, developer, settings):
    settings.DEBUG = False
    response = login(developer).get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "bridge.css" in response.content.decode()
