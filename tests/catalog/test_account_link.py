"""Linking portal accounts to catalog Users: at sign-in by email, "This is me", by a Platform Admin, unlinking."""

import pytest

from catalog.models import Entity
from catalog.selectors import teams_of
from portal.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PEOPLE = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec: {profile: {email: Stranger@Example.com}, memberOf: [payments]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: someone-else}
spec: {profile: {email: someone@example.com}, memberOf: [payments]}
"""


@pytest.fixture
def people(import_text):
    result = import_text(PEOPLE, name="people")
    assert not result.problems
    return Entity.objects.get(ref_key="user:default/ada")


def team_names(user) -> list[str]:
    return list(teams_of(user).values_list("name", flat=True))


def test_signing_in_links_the_account_to_the_catalog_user_with_its_email(people, client, stranger):
    assert team_names(stranger) == []
    response = client.post("/accounts/login/", {"username": "stranger", "password": PASSWORD})
    assert response.status_code == 302
    people.refresh_from_db()
    assert people.portal_user == stranger
    assert team_names(stranger) == ["payments"]
    event = AuditEvent.objects.get(action="catalog.user.link")
    assert event.actor == stranger and event.changes["portal_user"] == {"before": None, "after": "stranger"}
    assert event.changes["teams"] == ["group:default/payments"]


def test_two_users_with_the_same_email_are_not_guessed_between_the_person_chooses(import_text, people, login, stranger):
    import_text(PEOPLE.replace("someone@example.com", "stranger@example.com"), name="people")
    client = login(stranger)
    assert Entity.objects.filter(portal_user=stranger).count() == 0
    page = client.get("/catalog/me/").content.decode()
    assert "Is one of these you?" in page and "user:default/ada" in page and "user:default/someone-else" in page
    response = client.post("/catalog/User/default/someone-else/claim/", {"next": "me"})
    assert response.status_code == 302 and response.url == "/catalog/me/"
    page = client.get("/catalog/me/").content.decode()
    assert "Linked to" in page and "payments" in page
    assert Entity.objects.get(portal_user=stranger).name == "someone-else"


def test_nobody_claims_a_user_with_another_email_or_one_already_linked(people, login, stranger, developer):
    client = login(developer)  # dev@example.com is not ada's email
    assert client.post("/catalog/User/default/ada/claim/").status_code == 403
    people.refresh_from_db()
    assert people.portal_user is None
    login(stranger)
    people.refresh_from_db()
    assert people.portal_user == stranger
    developer.email = "stranger@example.com"
    developer.save()
    client = login(developer)
    assert client.post("/catalog/User/default/ada/claim/").status_code == 403
    people.refresh_from_db()
    assert people.portal_user == stranger


def test_the_identity_page_says_what_to_do_when_nothing_matches(login, developer):
    page = login(developer).get("/catalog/me/").content.decode()
    assert "No catalog User is linked to your account" in page
    assert "dev@example.com" in page


def test_a_platform_admin_links_any_account_and_others_cannot(people, login, platform_admin, developer):
    assert login(developer).post("/catalog/User/default/ada/link/", {"username": "dev"}).status_code == 403
    client = login(platform_admin)
    response = client.post("/catalog/User/default/ada/link/", {"username": "nobody"}, follow=True)
    assert "There is no active portal account named &#x27;nobody&#x27;" in response.content.decode()
    client.post("/catalog/User/default/ada/link/", {"username": "dev"})
    people.refresh_from_db()
    assert people.portal_user == developer
    assert team_names(developer) == ["payments"]
    assert AuditEvent.objects.filter(action="catalog.user.link", actor=platform_admin).exists()
    page = client.get("/catalog/User/default/ada/").content.decode()
    assert "Linked to the portal account <strong>dev</strong>" in page


def test_the_person_or_an_admin_unlinks_and_the_account_leaves_the_teams(people, login, stranger, developer):
    login(stranger)
    assert login(developer).post("/catalog/User/default/ada/unlink/").status_code == 403
    client = login(stranger)
    page = client.get("/catalog/User/default/ada/").content.decode()
    assert "Unlink the account" in page
    client.post("/catalog/User/default/ada/unlink/")
    people.refresh_from_db()
    assert people.portal_user is None
    assert team_names(stranger) == []
    assert AuditEvent.objects.filter(action="catalog.user.unlink", actor=stranger).exists()


def test_linking_needs_a_post_and_a_sign_in(people, client):
    assert client.post("/catalog/User/default/ada/claim/").status_code == 302
    people.refresh_from_db()
    assert people.portal_user is None
