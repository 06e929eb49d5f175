"""Catalog locations in Git repositories: registered by URL or repository + ref + path, read through
the Git-host client, refreshed conditionally. The Git server is real (git http-backend); GitHub and
GitLab are simulated from recorded responses (tests/fixtures/githosts/README.md names the sources).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.models import CatalogLocation, Entity
from portal.githosts import errors

pytestmark = pytest.mark.django_db

ROOT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop, description: The shop}
spec: {type: service, lifecycle: production, owner: team-a, providesApis: [shop-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: shop-more}
spec:
  type: url
  targets: [./apis/*.yaml, ./team.yaml]
"""
API = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: shop-api}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {$text: ../openapi.yaml}
"""
TEAM = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
"""
OPENAPI = "openapi: 3.0.0\ninfo: {title: Shop, version: 1.0.0}\npaths: {}\n"


def shop_files(**changes):
    files = {"catalog-info.yaml": ROOT, "apis/shop.yaml": API, "team.yaml": TEAM, "openapi.yaml": OPENAPI}
    files.update(changes)
    return files


def refs_from(location):
    return sorted(Entity.objects.filter(source__startswith=location.source_prefix).values_list("ref_key", flat=True))


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


@pytest.fixture
def shop(git_server, github_api):
    git_server.commit("acme/shop", shop_files())
    github_api.add("acme/shop")
    return f"{git_server.base_url}/acme/shop/blob/main/catalog-info.yaml"


def test_a_github_file_url_brings_its_entities_targets_and_text_files(shop, platform_admin):
    location, outcome = services.location_add(actor=platform_admin, url=shop)
    assert outcome.status == "read", outcome
    assert refs_from(location) == [
        "api:default/shop-api",
        "component:default/shop",
        "group:default/team-a",
        "location:default/shop-more",
    ]
    assert Entity.objects.get(ref_key="api:default/shop-api").spec["definition"] == OPENAPI
    assert sorted(outcome.created) == refs_from(location)
    location.refresh_from_db()
    assert location.status == "ok" and location.refreshed_at is not None
    assert {path: info["kind"] for path, info in location.files.items()} == {
        "catalog-info.yaml": "catalog",
        "apis/*.yaml": "listing",
        "apis/shop.yaml": "target",
        "team.yaml": "target",
        "openapi.yaml": "substitution",
    }
    assert location.last_changes["counts"] == [4, 0, 0]


def test_an_unchanged_location_asks_conditionally_and_writes_nothing(shop, platform_admin, github_api):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    location.refresh_from_db()
    before = list(Entity.objects.order_by("pk").values_list("pk", "updated_at"))
    github_api.requests.clear()
    with CaptureQueriesContext(connection) as queries:
        [outcome] = services.locations_refresh(locations=[location])
    assert outcome.status == "unchanged"
    assert writes(queries.captured_queries) == []
    assert list(Entity.objects.order_by("pk").values_list("pk", "updated_at")) == before
    contents = [r for r in github_api.requests if "/contents/" in r["path"]]
    assert contents and all(r["if_none_match"] and r["status"] == 304 for r in contents)


def test_a_changed_text_file_updates_the_entity_that_includes_it(shop, platform_admin, git_server):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    git_server.commit("acme/shop", {"openapi.yaml": OPENAPI.replace("1.0.0", "2.0.0")})
    [outcome] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert outcome.status == "read" and outcome.updated == ["api:default/shop-api"]
    assert "2.0.0" in Entity.objects.get(ref_key="api:default/shop-api").spec["definition"]
    location.refresh_from_db()
    assert location.last_changes["updated"] == ["api:default/shop-api"]


def test_a_new_file_matching_a_glob_is_picked_up_and_a_deleted_one_orphans(shop, platform_admin, git_server):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    extra = API.replace("shop-api", "shop-events").replace("../openapi.yaml", "../openapi.yaml")
    git_server.commit("acme/shop", {"apis/events.yaml": extra, "team.yaml": None})
    [outcome] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert outcome.created == ["api:default/shop-events"], outcome
    assert outcome.orphaned == ["group:default/team-a"]
    assert Entity.objects.get(ref_key="group:default/team-a").orphaned
    assert any("team.yaml" in p["reason"] for p in outcome.problems)


def test_a_deleted_target_file_is_noticed_by_the_conditional_check_and_orphans_its_entities(
    shop, platform_admin, git_server
):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    git_server.commit("acme/shop", {"team.yaml": None})
    [outcome] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert outcome.status == "read", outcome
    assert outcome.orphaned == ["group:default/team-a"]


def test_targets_never_leave_the_repository_and_ref(shop, platform_admin, git_server):
    escaping = ROOT.replace(
        "[./apis/*.yaml, ./team.yaml]",
        "[../../other/catalog-info.yaml, 'http://169.254.169.254/latest/meta-data', /team.yaml]",
    )
    git_server.commit(
        "acme/shop",
        {"catalog-info.yaml": escaping, "apis/shop.yaml": API.replace("../openapi.yaml", "../../../etc/passwd")},
    )
    location, outcome = services.location_add(actor=platform_admin, url=shop)
    reasons = [p["reason"] for p in outcome.problems]
    assert any("points outside the repository" in r for r in reasons)
    assert any("may only name files of the same repository" in r for r in reasons)
    assert "group:default/team-a" in refs_from(location), "a leading / is the repository's root"


def test_a_host_that_cannot_be_reached_keeps_the_entities_as_they_were(shop, platform_admin, github_api):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    github_api.limit_next(5, kind="primary", retry_after=3600)
    [outcome] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)], force=True)
    assert outcome.status == "deferred" and "rate-limiting" in outcome.error
    location.refresh_from_db()
    assert location.retry_at is not None and location.status == "ok"
    assert not Entity.objects.filter(orphaned=True).exists()


def test_removing_a_location_orphans_its_entities(shop, platform_admin):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    orphaned = services.location_remove(actor=platform_admin, location=location)
    assert len(orphaned) == 4
    assert Entity.objects.filter(orphaned=True).count() == 4
    assert not CatalogLocation.objects.exists()


def test_only_platform_admins_register_locations(shop, developer):
    with pytest.raises(services.PermissionDenied, match="Only Platform Admins"):
        services.location_add(actor=developer, url=shop)


def test_the_same_location_cannot_be_registered_twice(shop, platform_admin):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    with pytest.raises(services.ServiceError, match=f"registered already \\(location {location.pk}\\)"):
        services.location_add(actor=platform_admin, url=shop)


def test_a_url_on_a_host_without_an_integration_is_refused(platform_admin, git_integrations):
    git_integrations([])
    with pytest.raises(services.ServiceError, match="has no Git integration"):
        services.location_add(actor=platform_admin, url="https://github.com/acme/shop/blob/main/catalog-info.yaml")
    assert not CatalogLocation.objects.exists()


def test_a_gitlab_file_url_in_a_subgroup_is_read(gitlab_api, git_server, platform_admin):
    git_server.commit("shop/web/storefront", shop_files())
    gitlab_api.add("shop/web/storefront")
    url = f"{git_server.base_url}/shop/web/storefront/-/blob/main/catalog-info.yaml"
    location, outcome = services.location_add(actor=platform_admin, url=url)
    assert outcome.status == "read" and len(outcome.created) == 4
    gitlab_api.requests.clear()
    [again] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert again.status == "unchanged"
    assert {r["method"] for r in gitlab_api.requests if "/files/" in r["path"]} == {"HEAD"}


def test_a_plain_git_repository_is_read_over_smart_http_and_compared_by_commit(
    git_server, git_integrations, platform_admin
):
    first = git_server.commit("acme/shop", shop_files())
    git_integrations([{"type": "git", "host": git_server.host, "allow_private_addresses": True}])
    location, outcome = services.location_add(
        actor=platform_admin, repository=git_server.url("acme/shop"), ref="main", path="catalog-info.yaml"
    )
    assert outcome.status == "read" and len(outcome.created) == 4
    location.refresh_from_db()
    assert location.commit_sha == first
    git_server.requests.clear()
    with CaptureQueriesContext(connection) as queries:
        [again] = services.locations_refresh(locations=[location])
    assert again.status == "unchanged" and writes(queries.captured_queries) == []
    # one ls-remote (protocol v2: the advertisement and one ls-refs command), and no fetch
    assert [r["path"] for r in git_server.requests] == ["/acme/shop.git/info/refs", "/acme/shop.git/git-upload-pack"]
    git_server.commit("acme/shop", {"team.yaml": TEAM.replace("{name: team-a}", "{name: team-a, title: Team A}")})
    [changed] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert changed.updated == ["group:default/team-a"]


def test_an_unreadable_catalog_file_is_an_error_on_the_location(shop, platform_admin, git_server):
    url = shop.replace("catalog-info.yaml", "missing.yaml")
    location, outcome = services.location_add(actor=platform_admin, url=url)
    assert outcome.status == "error" and "not found" in outcome.error
    location.refresh_from_db()
    assert location.status == "error" and location.error


def test_the_client_refuses_what_the_location_names_before_reading(platform_admin, git_integrations):
    git_integrations([{"type": "github", "host": "github.com"}])
    with pytest.raises(services.ServiceError, match="GitHub file URL looks like"):
        services.location_add(actor=platform_admin, url="https://github.com/acme/shop")
    with pytest.raises(services.ServiceError, match="Only http and https"):
        services.location_add(actor=platform_admin, url="file:///etc/passwd")
    assert errors.Refused.permanent


# --- discovery -------------------------------------------------------------------------------------


def component(name: str, owner: str = "team-a") -> str:
    return (
        f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\n"
        f"spec: {{type: service, lifecycle: production, owner: {owner}}}\n"
    )


def test_discovery_of_a_github_organisation_reads_every_repository_with_the_file(
    github_api, git_server, platform_admin
):
    for name in ("billing", "shop", "legacy", "docs-site", "sandbox-x"):
        git_server.commit(f"acme/{name}", {"catalog-info.yaml": component(name)})
        github_api.add(f"acme/{name}", archived=name == "legacy")
    git_server.commit("acme/no-catalog", {"README.md": "# nothing here\n"})
    github_api.add("acme/no-catalog")
    git_server.commit("acme/trunk-based", {"catalog-info.yaml": component("trunk-based")}, branch="trunk")
    git_server.set_default_branch("acme/trunk-based", "trunk")
    github_api.add("acme/trunk-based")
    discovery, scan = services.discovery_add(
        actor=platform_admin, host=git_server.host, owner="acme", exclude=["sandbox-*"]
    )
    assert sorted(scan.added) == ["acme/billing", "acme/docs-site", "acme/shop", "acme/trunk-based"]
    assert scan.archived == ["acme/legacy"] and scan.excluded == ["acme/sandbox-x"]
    assert scan.without_file == ["acme/no-catalog"]
    assert sorted(Entity.objects.values_list("name", flat=True)) == ["billing", "docs-site", "shop", "trunk-based"]
    assert CatalogLocation.objects.get(repository="acme/trunk-based").ref == "trunk"


def test_a_new_repository_is_picked_up_at_the_next_scan_and_a_deleted_one_orphans(
    github_api, git_server, platform_admin
):
    for name in ("billing", "shop"):
        git_server.commit(f"acme/{name}", {"catalog-info.yaml": component(name)})
        github_api.add(f"acme/{name}")
    discovery, _ = services.discovery_add(actor=platform_admin, host=git_server.host, owner="acme")
    git_server.commit("acme/payments", {"catalog-info.yaml": component("payments")})
    github_api.add("acme/payments")
    github_api.remove("acme/billing")
    git_server.delete("acme/billing")
    scan = services.discovery_scan(discovery=discovery)
    assert scan.added == ["acme/payments"] and scan.removed == ["acme/billing"]
    assert Entity.objects.get(name="billing").orphaned
    assert not Entity.objects.get(name="payments").orphaned
    github_api.requests.clear()
    again = services.discovery_scan(discovery=discovery)
    assert not again.added and not again.removed
    assert {o.status for o in again.outcomes} == {"unchanged"}


def test_discovery_of_a_gitlab_group_includes_its_subgroups(gitlab_api, git_server, platform_admin):
    for slug in ("shop/web/storefront", "shop/billing", "other/thing"):
        git_server.commit(slug, {"catalog-info.yaml": component(slug.rsplit("/", 1)[-1])})
        gitlab_api.add(slug)
    _discovery, scan = services.discovery_add(
        actor=platform_admin, host=git_server.host, owner="shop", include=["storefront", "billing"]
    )
    assert sorted(scan.added) == ["shop/billing", "shop/web/storefront"]
    assert sorted(Entity.objects.values_list("name", flat=True)) == ["billing", "storefront"]


def test_a_discovered_repository_whose_file_is_deleted_loses_its_location(github_api, git_server, platform_admin):
    git_server.commit("acme/shop", {"catalog-info.yaml": component("shop")})
    github_api.add("acme/shop")
    discovery, _ = services.discovery_add(actor=platform_admin, host=git_server.host, owner="acme")
    git_server.commit("acme/shop", {"catalog-info.yaml": None, "README.md": "moved away\n"})
    scan = services.discovery_scan(discovery=discovery)
    assert scan.removed == ["acme/shop"]
    assert Entity.objects.get(name="shop").orphaned


def test_a_custom_catalog_path_is_read(github_api, git_server, platform_admin):
    git_server.commit(
        "acme/shop", {".backstage/catalog.yaml": component("shop"), "catalog-info.yaml": component("wrong")}
    )
    github_api.add("acme/shop")
    services.discovery_add(
        actor=platform_admin, host=git_server.host, owner="acme", catalog_path=".backstage/catalog.yaml"
    )
    assert list(Entity.objects.values_list("name", flat=True)) == ["shop"]


# --- refresh on push -------------------------------------------------------------------------------


@pytest.fixture
def push_receiver(client, platform_admin, monkeypatch, django_capture_on_commit_callbacks):
    """Sends a signed GitHub push to the pipelines receiver and processes it as the drain would;
    the catalog's refresh task runs inline (its broker is not started here)."""
    import json
    import uuid

    from catalog import tasks as catalog_tasks
    from pipelines import secrets as webhook_secrets
    from pipelines import services as pipeline_services
    from pipelines import tasks as pipeline_tasks
    from pipelines.models import Delivery, DeliveryStatus

    monkeypatch.setattr(pipeline_tasks.drain_deliveries, "apply_async", lambda *a, **k: None)
    ran = []
    monkeypatch.setattr(
        catalog_tasks.refresh_for_push,
        "delay",
        lambda **kw: ran.append(kw) or catalog_tasks.refresh_for_push.apply(kwargs=kw),
    )
    hook = pipeline_services.integration_create(actor=platform_admin, provider="github", name="GitHub acme")

    def send(payload: dict) -> list:
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                hook.integration.receiver_path(),
                data=body,
                content_type="application/json",
                HTTP_X_GITHUB_EVENT="push",
                HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
                HTTP_X_HUB_SIGNATURE_256=webhook_secrets.github_signature(hook.secret, body),
            )
            assert response.status_code == 202, response.content
        for pk in Delivery.objects.filter(status=DeliveryStatus.PENDING).values_list("pk", flat=True):
            with django_capture_on_commit_callbacks(execute=True):
                assert pipeline_services.delivery_process(delivery_pk=pk) == DeliveryStatus.PROCESSED
        return ran

    return send


def push_payload(git_server, slug, sha, *, branch="main", modified=("catalog-info.yaml",)):
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "commits": [
            {
                "id": sha,
                "timestamp": "2026-11-20T09:30:00+01:00",
                "message": "Change",
                "added": [],
                "removed": [],
                "modified": list(modified),
            }
        ],
        "head_commit": {"id": sha, "timestamp": "2026-11-20T09:30:00+01:00"},
        "repository": {
            "full_name": slug,
            "name": slug.split("/")[1],
            "html_url": f"{git_server.base_url}/{slug}",
            "clone_url": git_server.url(slug),
            "default_branch": "main",
        },
    }


def test_a_push_to_the_branch_touching_the_catalog_file_refreshes_its_location_at_once(
    shop, platform_admin, git_server, push_receiver
):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    sha = git_server.commit("acme/shop", {"catalog-info.yaml": ROOT.replace("The shop", "The new shop")})
    ran = push_receiver(push_payload(git_server, "acme/shop", sha))
    assert len(ran) == 1 and ran[0]["branch"] == "main" and ran[0]["paths"] == ["catalog-info.yaml"]
    assert Entity.objects.get(ref_key="component:default/shop").description == "The new shop"


def test_a_push_touching_a_target_file_refreshes_and_one_touching_nothing_of_it_does_not(
    shop, platform_admin, git_server, github_api, push_receiver
):
    services.location_add(actor=platform_admin, url=shop)
    sha = git_server.commit("acme/shop", {"team.yaml": TEAM.replace("{name: team-a}", "{name: team-a, title: A}")})
    push_receiver(push_payload(git_server, "acme/shop", sha, modified=["team.yaml"]))
    assert Entity.objects.get(ref_key="group:default/team-a").title == "A"
    github_api.requests.clear()
    sha = git_server.commit("acme/shop", {"README.md": "docs\n"})
    push_receiver(push_payload(git_server, "acme/shop", sha, modified=["README.md"]))
    assert github_api.requests == [], "nothing the location reads was touched: no request at all"


def test_a_push_to_another_branch_leaves_the_location_alone(
    shop, platform_admin, git_server, github_api, push_receiver
):
    services.location_add(actor=platform_admin, url=shop)
    sha = git_server.commit("acme/shop", {"catalog-info.yaml": ROOT.replace("The shop", "Feature")}, branch="feature")
    github_api.requests.clear()
    push_receiver(push_payload(git_server, "acme/shop", sha, branch="feature"))
    assert github_api.requests == []
    assert Entity.objects.get(ref_key="component:default/shop").description == "The shop"


def test_gitlab_push_hooks_name_the_branch_and_the_files_they_touched():
    from pipelines import providers as hooks

    parsed = hooks.parse(
        "gitlab",
        "Push Hook",
        {
            "object_kind": "push",
            "ref": "refs/heads/main",
            "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "total_commits_count": 1,
            "project": {
                "path_with_namespace": "shop/web/storefront",
                "web_url": "https://gitlab.example.com/shop/web/storefront",
                "git_http_url": "https://gitlab.example.com/shop/web/storefront.git",
                "default_branch": "main",
            },
            "commits": [
                {
                    "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                    "timestamp": "2026-11-20T09:30:00+01:00",
                    "added": ["docs/api.yaml"],
                    "modified": ["catalog-info.yaml"],
                    "removed": [],
                }
            ],
        },
    )
    assert parsed.ref == "refs/heads/main" and parsed.paths == ["catalog-info.yaml", "docs/api.yaml"]
    assert parsed.repo.slug == "shop/web/storefront" and parsed.repo.default_branch == "main"


# --- the interfaces: command, API, pages -----------------------------------------------------------


def test_the_command_adds_lists_refreshes_and_removes_locations(shop, git_server, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("catalog_location", "add", shop)
    location = CatalogLocation.objects.get()
    assert f"{location.pk}\tacme/shop@main:catalog-info.yaml\t4 created" in capsys.readouterr().out
    call_command(
        "catalog_location", "add", "--repository", git_server.url("acme/shop"), "--ref", "main", "--path", "team.yaml"
    )
    assert "acme/shop@main:team.yaml" in capsys.readouterr().out
    call_command("catalog_location", "list")
    listed = capsys.readouterr().out
    assert "acme/shop@main:catalog-info.yaml" in listed and "acme/shop@main:team.yaml" in listed
    call_command("catalog_location", "refresh", str(location.pk))
    assert "created" in capsys.readouterr().out
    call_command("catalog_location", "refresh", "--all")
    assert "2 checked, 0 changed, 0 failed" in capsys.readouterr().out
    call_command("catalog_location", "remove", str(location.pk))
    assert "entities orphaned" in capsys.readouterr().out
    with pytest.raises(CommandError, match="There is no location"):
        call_command("catalog_location", "remove", str(location.pk))
    with pytest.raises(CommandError, match="Give a location id, or --all"):
        call_command("catalog_location", "refresh")
    with pytest.raises(CommandError, match="has no Git integration"):
        call_command("catalog_location", "add", "https://example.org/a/b/blob/main/c.yaml")


def test_the_api_registers_lists_refreshes_and_deletes_locations(shop, client, platform_admin, developer, team):
    client.force_login(platform_admin)
    created = client.post("/api/catalog/locations/", {"url": shop}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["refresh"]["status"] == "read" and "component:default/shop" in body["refresh"]["created"]
    pk = body["location"]["id"]
    assert {t["path"] for t in body["location"]["targets"]} >= {"catalog-info.yaml", "team.yaml"}
    listed = client.get("/api/catalog/locations/").json()
    assert listed["count"] == 1 and listed["results"][0]["repository"] == "acme/shop"
    client.force_login(developer)
    refreshed = client.post(f"/api/catalog/locations/{pk}/refresh/")
    assert refreshed.status_code == 200 and refreshed.json()["status"] == "read"
    assert client.delete(f"/api/catalog/locations/{pk}/").status_code == 403
    client.force_login(platform_admin)
    bad = client.post("/api/catalog/locations/", {"repository": "x"}, content_type="application/json")
    assert bad.status_code == 400 and "ref and path" in bad.json()["error"]["message"]
    assert client.delete(f"/api/catalog/locations/{pk}/").status_code == 204
    assert Entity.objects.get(ref_key="component:default/shop").orphaned
    assert not CatalogLocation.objects.exists()


def test_the_location_page_shows_targets_changes_problems_and_entities(shop, client, platform_admin, git_server):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    git_server.commit("acme/shop", {"team.yaml": None})
    services.location_refresh(location=CatalogLocation.objects.get(pk=location.pk))
    client.force_login(platform_admin)
    page = client.get(f"/catalog/locations/{location.pk}/").content.decode()
    assert "apis/*.yaml" in page and "Location target" in page
    assert "group:default/team-a" in page and "Orphaned (1)" in page
    assert "does not exist in acme/shop@main" in page
    assert "component:default/shop" in page
    listing = client.get("/catalog/locations/").content.decode()
    assert "acme/shop" in listing and "Register a catalog file" in listing


def test_the_locations_page_says_what_to_do_when_there_are_none(client, developer):
    client.force_login(developer)
    page = client.get("/catalog/locations/").content.decode()
    assert "A Platform Admin registers your repository" in page
    assert "Register a catalog file" not in page


def test_a_second_location_listing_an_entity_gets_a_conflict_and_changes_nothing(
    github_api, git_server, platform_admin, client
):
    git_server.commit("acme/repo-a", {"catalog-info.yaml": component("dup-svc", owner="team-a")})
    git_server.commit("acme/repo-b", {"catalog-info.yaml": component("dup-svc", owner="team-b")})
    github_api.add("acme/repo-a")
    github_api.add("acme/repo-b")
    first, _ = services.location_add(
        actor=platform_admin, url=f"{git_server.base_url}/acme/repo-a/blob/main/catalog-info.yaml"
    )
    second, outcome = services.location_add(
        actor=platform_admin, url=f"{git_server.base_url}/acme/repo-b/blob/main/catalog-info.yaml"
    )
    assert outcome.created == [] and outcome.updated == []
    assert [c["entity"] for c in outcome.conflicts] == ["component:default/dup-svc"]
    entity = Entity.objects.get(ref_key="component:default/dup-svc")
    assert entity.owner_ref == "group:default/team-a" and entity.source == f"location:{first.pk}:catalog-info.yaml"
    client.force_login(platform_admin)
    owner_page = client.get(f"/catalog/locations/{first.pk}/").content.decode()
    assert (
        "Other sources list entities that this location owns" in owner_page
        and f"Git location {second.pk}" in owner_page
    )
    claimant_page = client.get(f"/catalog/locations/{second.pk}/").content.decode()
    assert "lists entities that another source owns" in claimant_page and f"Git location {first.pk}" in claimant_page
    # The second location stops listing it: its conflict goes away at the next read.
    git_server.commit("acme/repo-b", {"catalog-info.yaml": component("other-svc", owner="team-b")})
    [again] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=second.pk)])
    assert again.created == ["component:default/other-svc"] and again.conflicts == []
    assert (
        "lists entities that another source owns" not in client.get(f"/catalog/locations/{second.pk}/").content.decode()
    )


def test_an_entity_moved_between_files_of_one_location_is_no_conflict(shop, platform_admin, git_server):
    location, _ = services.location_add(actor=platform_admin, url=shop)
    git_server.commit("acme/shop", {"team.yaml": None, "apis/team.yaml": TEAM})
    [outcome] = services.locations_refresh(locations=[CatalogLocation.objects.get(pk=location.pk)])
    assert outcome.conflicts == [] and outcome.orphaned == []
    assert Entity.objects.get(ref_key="group:default/team-a").source == f"location:{location.pk}:apis/team.yaml"
