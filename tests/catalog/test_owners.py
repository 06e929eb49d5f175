"""One owner per entity, as in Backstage: the first source keeps it, others get a conflict; admins move it.

Uploads are named per team (or per person for Platform Admins), so no team's upload can orphan
another team's entities. The entity is Backstage's own artist-lookup example (tests/catalog/backstage).
"""

from pathlib import Path

import pytest

from catalog import services
from catalog.models import Entity, EntityConflict
from portal.models import AuditEvent
from tests.catalog.conftest import TEAM_YAML, dedent, entity

pytestmark = pytest.mark.django_db

ARTIST = (Path(__file__).parent / "backstage" / "components" / "artist-lookup-component.yaml").read_text()
REF = "component:default/artist-lookup"


def artist(owner: str, description: str) -> str:
    return ARTIST.replace("owner: team-a", f"owner: {owner}").replace("Artist Lookup", description)


@pytest.fixture
def repos(tmp_path, settings):
    """Two repositories (folders) that both describe component:default/artist-lookup."""
    settings.CATALOG_IMPORT_ROOTS = [str(tmp_path)]
    for name, owner in (("repo-a", "team-a"), ("repo-b", "team-b")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "catalog-info.yaml").write_text(artist(owner, f"From {name}"))
    return tmp_path


def key(repos, name: str) -> str:
    return f"file:{repos / name / 'catalog-info.yaml'}"


def test_a_second_location_with_the_same_entity_gets_a_conflict_and_changes_nothing(repos, platform_admin):
    first = services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    assert first.created == [REF]

    second = services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    assert second.created == second.updated == []
    (conflict,) = second.conflicts
    assert conflict["entity"] == REF
    assert (conflict["owner"], conflict["source"]) == (key(repos, "repo-a"), key(repos, "repo-b"))
    (problem,) = second.problems
    assert problem.entity == REF and problem.reason.startswith("conflict:")
    assert str(repos / "repo-a" / "catalog-info.yaml") in problem.reason
    assert "1 conflict" in second.summary()
    kept = entity(REF)
    assert (kept.description, kept.owner_ref, kept.source) == (
        "From repo-a",
        "group:default/team-a",
        key(repos, "repo-a"),
    )
    assert list(EntityConflict.objects.values_list("entity__ref_key", "source")) == [(REF, key(repos, "repo-b"))]

    # Importing it again keeps the conflict; once repo-b stops describing it, the conflict is gone.
    services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    assert EntityConflict.objects.count() == 1
    (repos / "repo-b" / "catalog-info.yaml").write_text(artist("team-b", "x").replace("artist-lookup", "other"))
    third = services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    assert third.conflicts == [] and third.created == ["component:default/other"]
    assert not EntityConflict.objects.exists()
    assert entity(REF).description == "From repo-a"


def test_the_owner_keeps_its_entity_when_both_locations_are_imported_at_once(repos, platform_admin):
    services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    # repo-a sorts first in the folder, but repo-b owns the entity.
    result = services.catalog_import_paths(paths=[str(repos)], actor=platform_admin)
    assert [(c["entity"], c["source"]) for c in result.conflicts] == [(REF, key(repos, "repo-a"))]
    assert entity(REF).description == "From repo-b"
    assert result.orphaned == []


def test_a_descriptor_moved_to_another_file_of_the_same_folder_import_moves_with_it(repos, platform_admin):
    services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    (repos / "repo-b" / "catalog-info.yaml").unlink()
    (repos / "repo-a" / "catalog-info.yaml").rename(repos / "repo-b" / "catalog-info.yaml")
    result = services.catalog_import_paths(paths=[str(repos)], actor=platform_admin)
    assert result.conflicts == [] and result.orphaned == []
    assert entity(REF).source == key(repos, "repo-b")


@pytest.fixture
def two_teams(team, stranger, platform_admin):
    """team-a: dev and teammate (from the team fixture); team-b: the stranger."""
    services.catalog_import_text(
        text="apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: bea}\nspec: {memberOf: [team-b]}\n",
        name="people",
        actor=platform_admin,
    )
    services.portal_user_link(entity=entity("user:default/bea"), user=stranger, actor=platform_admin)


def component(name: str, owner: str, description: str = "") -> str:
    return dedent(
        f"""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}, description: "{description}"}}
        spec: {{type: service, lifecycle: production, owner: {owner}}}
        """
    )


def test_two_teams_pasting_under_the_same_name_never_orphan_each_other(two_teams, developer, stranger, platform_admin):
    services.catalog_import_text(text=component("pay-a", "team-a"), name="pasted", actor=developer)
    services.catalog_import_text(text=component("pay-b", "team-b"), name="pasted", actor=stranger)
    assert not Entity.objects.filter(orphaned=True).exists()
    assert entity("component:default/pay-a").source == "upload:team:default/team-a:pasted"
    assert entity("component:default/pay-b").source == "upload:team:default/team-b:pasted"

    # team-a's next paste under that name no longer lists pay-a: only pay-a is orphaned.
    result = services.catalog_import_text(text=component("pay-a2", "team-a"), name="pasted", actor=developer)
    assert result.orphaned == ["component:default/pay-a"]
    assert not entity("component:default/pay-b").orphaned
    # And "Delete orphans" deletes pay-a alone.
    assert services.orphans_delete(actor=platform_admin, reviewed=services.orphans_digest()) == 1
    assert Entity.objects.filter(name="pay-b").exists()


def test_a_teams_upload_of_another_teams_entity_is_a_conflict_and_changes_nothing(two_teams, developer, stranger):
    services.catalog_import_text(text=component("pay-b", "team-b", "B's"), name="pay", actor=stranger)
    result = services.catalog_import_text(text=component("pay-b", "team-a", "taken"), name="pay", actor=developer)
    assert [c["entity"] for c in result.conflicts] == ["component:default/pay-b"]
    assert result.conflicts[0]["owner_label"] == "team-b's upload “pay”"
    kept = entity("component:default/pay-b")
    assert (kept.description, kept.owner_ref) == ("B's", "group:default/team-b")


def test_a_team_member_uploads_only_their_own_teams_entities_for_it(two_teams, developer, stranger):
    with pytest.raises(services.PermissionDenied, match="not a member of group:team-b"):
        services.catalog_import_text(text=component("x", "team-b"), name="x", actor=developer, team="team-b")


def test_a_platform_admin_uploads_as_themselves_unless_they_name_a_team(team, platform_admin):
    services.catalog_import_text(text=component("mine", "team-b"), name="pasted", actor=platform_admin)
    assert entity("component:default/mine").source == "upload:user:padmin:pasted"
    services.catalog_import_text(text=component("theirs", "team-b"), name="pasted", actor=platform_admin, team="team-b")
    assert entity("component:default/theirs").source == "upload:team:default/team-b:pasted"


def test_someone_in_two_teams_says_which_team_an_upload_is_for(two_teams, developer, platform_admin):
    in_both = TEAM_YAML.replace(
        "metadata: {name: dev}\nspec: {memberOf: [team-a]}", "metadata: {name: dev}\nspec: {memberOf: [team-a, team-b]}"
    )
    assert in_both != TEAM_YAML
    services.catalog_import_text(text=in_both, name="teams", actor=platform_admin)
    with pytest.raises(services.ServiceError, match="which of your teams"):
        services.catalog_import_text(text=component("x", "team-a"), name="x", actor=developer)
    result = services.catalog_import_text(text=component("x", "team-a"), name="x", actor=developer, team="team-a")
    assert result.created == ["component:default/x"]


def test_a_platform_admin_moves_an_entity_to_the_source_that_claims_it_and_the_move_is_audited(repos, platform_admin):
    services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)

    moved = services.entity_move(actor=platform_admin, entity=entity(REF), source=key(repos, "repo-b"))
    # repo-b's refused copy is written at once.
    assert (moved.source, moved.description, moved.owner_ref) == (
        key(repos, "repo-b"),
        "From repo-b",
        "group:default/team-b",
    )
    event = AuditEvent.objects.get(action="catalog.entity.move")
    assert event.actor == platform_admin
    assert event.changes["source"] == {"before": key(repos, "repo-a"), "after": key(repos, "repo-b")}
    # Now repo-a holds the conflict, and repo-b's next import changes nothing.
    assert list(EntityConflict.objects.values_list("source", flat=True)) == [key(repos, "repo-a")]
    again = services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    assert (again.unchanged, again.updated, again.conflicts) == (1, [], [])
    refused = services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    assert [c["owner"] for c in refused.conflicts] == [key(repos, "repo-b")]
    assert entity(REF).description == "From repo-b"


def test_only_platform_admins_move_entities_and_only_to_a_known_source(repos, platform_admin, developer):
    services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    with pytest.raises(services.PermissionDenied):
        services.entity_move(actor=developer, entity=entity(REF), source=key(repos, "repo-b"))
    with pytest.raises(services.ServiceError, match="No source"):
        services.entity_move(actor=platform_admin, entity=entity(REF), source="file:/nowhere.yaml")
    assert entity(REF).source == key(repos, "repo-a")
    assert not AuditEvent.objects.filter(action="catalog.entity.move").exists()


def test_deleting_orphans_deletes_only_the_list_that_was_reviewed(import_text, platform_admin):
    import_text(component("a", "team-a") + "---\n" + component("b", "team-a"), name="src")
    import_text(component("a", "team-a"), name="src")
    reviewed = services.orphans_digest()
    import_text(component("c", "team-a"), name="src")  # a is orphaned too now
    with pytest.raises(services.ServiceError, match="review the list again"):
        services.orphans_delete(actor=platform_admin, reviewed=reviewed)
    assert Entity.objects.filter(orphaned=True).count() == 2
    assert services.orphans_delete(actor=platform_admin, reviewed=services.orphans_digest()) == 2


# --- pages and API ---------------------------------------------------------------------


def test_a_conflict_shows_in_the_import_result_and_on_both_sources_pages(repos, login, platform_admin):
    from django.urls import reverse

    client = login(platform_admin)
    client.post(reverse("catalog:import"), {"path": str(repos / "repo-a")})
    page = client.post(reverse("catalog:import"), {"path": str(repos / "repo-b")}).content.decode()
    assert "Not imported: another source owns 1 of these entity" in page
    assert str(repos / "repo-a" / "catalog-info.yaml") in page

    claimant = client.get(reverse("catalog:source"), {"key": key(repos, "repo-b")}).content.decode()
    assert "Not imported from here" in claimant and "artist-lookup" in claimant
    owner = client.get(reverse("catalog:source"), {"key": key(repos, "repo-a")}).content.decode()
    assert "Also listed by other sources (1)" in owner
    assert str(repos / "repo-b" / "catalog-info.yaml") in owner
    listing = client.get(reverse("catalog:sources")).content.decode()
    assert "1 refused" in listing


def test_the_entity_page_offers_platform_admins_the_move_and_refuses_it_to_others(
    repos, login, platform_admin, developer, client
):
    services.catalog_import_paths(paths=[str(repos / "repo-a")], actor=platform_admin)
    services.catalog_import_paths(paths=[str(repos / "repo-b")], actor=platform_admin)
    url = entity(REF).get_absolute_url()
    assert "Move here and use its copy" not in login(developer).get(url).content.decode()
    assert login(developer).post(url + "move/", {"source": key(repos, "repo-b")}).status_code == 403

    page = login(platform_admin).get(url).content.decode()
    assert "Also listed by 1 other source" in page and "Move here and use its copy" in page
    response = client.post(url + "move/", {"source": key(repos, "repo-b")}, follow=True)
    assert "now belongs to" in response.content.decode()
    assert entity(REF).description == "From repo-b"


def test_the_orphans_page_lists_what_delete_will_delete_before_anything_goes(import_text, login, platform_admin):
    from django.urls import reverse

    import_text(component("a", "team-a") + "---\n" + component("b", "team-a"), name="src")
    import_text(component("a", "team-a"), name="src")
    client = login(platform_admin)
    page = client.get(reverse("catalog:orphans")).content.decode()
    assert "1 orphaned entity" in page and "component:default/b" in page
    assert "Delete these 1 orphaned entity" in page
    # A POST without the reviewed list deletes nothing.
    client.post(reverse("catalog:delete-orphans"))
    assert Entity.objects.filter(name="b").exists()
    reviewed = services.orphans_digest()
    client.post(reverse("catalog:delete-orphans"), {"reviewed": reviewed})
    assert not Entity.objects.filter(name="b").exists()


def test_the_import_page_asks_someone_in_two_teams_which_team_and_names_the_source_for_it(
    two_teams, login, developer, platform_admin
):
    from django.urls import reverse

    in_both = TEAM_YAML.replace(
        "metadata: {name: dev}\nspec: {memberOf: [team-a]}", "metadata: {name: dev}\nspec: {memberOf: [team-a, team-b]}"
    )
    services.catalog_import_text(text=in_both, name="teams", actor=platform_admin)
    client = login(developer)
    form = client.get(reverse("catalog:import")).content.decode()
    assert 'name="team"' in form and "group:team-b" in form
    client.post(
        reverse("catalog:import"), {"text": component("y", "team-b"), "name": "pasted", "team": "group:default/team-b"}
    )
    assert entity("component:default/y").source == "upload:team:default/team-b:pasted"


def test_the_api_reports_conflicts_lists_them_and_moves_entities_for_platform_admins(
    two_teams, login, developer, stranger, platform_admin
):
    api = login(stranger)
    api.post(
        "/api/catalog/import/", {"yaml": component("pay-b", "team-b"), "name": "pay"}, content_type="application/json"
    )
    body = (
        login(developer)
        .post(
            "/api/catalog/import/",
            {"yaml": component("pay-b", "team-a"), "name": "pay"},
            content_type="application/json",
        )
        .json()
    )
    assert body["conflicts"][0]["owner"] == "upload:team:default/team-b:pay"
    pk = entity("component:default/pay-b").pk
    listed = login(developer).get(f"/api/catalog/entities/{pk}/conflicts/").json()
    assert [c["source"] for c in listed["results"]] == ["upload:team:default/team-a:pay"]
    assert login(developer).get("/api/catalog/conflicts/?owner=upload:team:default/team-b:pay").json()["count"] == 1

    move = {"source": "upload:team:default/team-a:pay"}
    refused = login(developer).post(f"/api/catalog/entities/{pk}/move/", move, content_type="application/json")
    assert refused.status_code == 403
    moved = login(platform_admin).post(f"/api/catalog/entities/{pk}/move/", move, content_type="application/json")
    assert moved.status_code == 200 and moved.json()["owner"] == "group:default/team-a"
    unknown = login(platform_admin).post(
        f"/api/catalog/entities/{pk}/move/", {"source": "nowhere"}, content_type="application/json"
    )
    assert unknown.status_code == 400 and "No source" in unknown.json()["error"]["message"]
