"""Git-host integrations and the one client that reads Git hosts: what it refuses, and how it reads.

The Git server is real (git http-backend); GitHub and GitLab are tests/githost_api.py answering
with recorded responses (sources in tests/fixtures/githosts/README.md).
"""

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import crypto
from portal.githosts import errors, integrations
from portal.githosts.git import RemoteRepository
from portal.githosts.httpclient import GitHostClient, client
from portal.githosts.providers import host_for, parse_file_url, repository_from_url

pytestmark = pytest.mark.django_db

CATALOG = (
    "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: shop}\n"
    "spec: {type: service, owner: team-a, lifecycle: production}\n"
)


def git_integration(git_server, **extra):
    return {"type": "git", "host": git_server.host, **extra}


# --- refusals (SSRF) -----------------------------------------------------------------------------


def test_a_host_without_an_integration_is_refused_before_anything_is_sent(git_server, git_integrations):
    git_integrations([])
    with pytest.raises(errors.NotConfigured, match="has no Git integration"):
        client().get(git_server.url("acme/shop") + "/info/refs")
    assert git_server.requests == []


def test_file_and_other_schemes_are_refused(git_server, git_integrations):
    git_integrations([git_integration(git_server, allow_private_addresses=True)])
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/"):
        with pytest.raises(errors.Refused, match="Only http and https"):
            client().get(url)
    with pytest.raises(errors.Refused, match="credentials"):
        client().get(f"http://user:secret@{git_server.host}/acme/shop.git")


def test_loopback_is_refused_unless_the_integration_allows_private_addresses(git_server, git_integrations):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    git_integrations([git_integration(git_server)])
    with pytest.raises(errors.AddressRefused, match="127.0.0.1 is loopback, private or link-local"):
        client().get(git_server.url("acme/shop") + "/info/refs?service=git-upload-pack")
    with pytest.raises(errors.AddressRefused):
        RemoteRepository(git_server.url("acme/shop")).resolve("main")
    assert git_server.requests == []


def test_a_name_that_resolves_to_loopback_is_refused_too(git_server, git_integrations):
    host = f"localhost:{git_server.port}"
    git_integrations([{"type": "git", "host": host}])
    with pytest.raises(errors.AddressRefused):
        client().get(f"http://{host}/acme/shop.git/info/refs")
    assert git_server.requests == []


def test_the_cloud_metadata_address_is_refused_even_where_private_addresses_are_allowed(git_integrations):
    git_integrations([{"type": "git", "host": "169.254.169.254", "allow_private_addresses": True}])
    with pytest.raises(errors.AddressRefused, match="169.254.169.254"):
        client().get("http://169.254.169.254/latest/meta-data/")


def test_an_address_the_integration_names_is_allowed(git_server, git_integrations):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    git_integrations([git_integration(git_server, allow_private_addresses=["127.0.0.1/32"])])
    response = client().get(git_server.url("acme/shop") + "/info/refs?service=git-upload-pack")
    assert response.status == 200


def test_a_redirect_to_another_host_is_refused_and_never_followed(git_server, git_integrations, tmp_path):
    from tests.gitserver import GitServer

    other = GitServer(tmp_path / "other").start()
    try:
        git_server.redirect("/moved/", f"{other.base_url}/")
        git_integrations([git_integration(git_server, allow_private_addresses=True)])
        with pytest.raises(errors.RedirectRefused, match="Bridge does not follow redirects to other hosts"):
            client().get(f"{git_server.base_url}/moved/acme/shop.git/info/refs")
        assert other.requests == []
    finally:
        other.stop()


def test_a_redirect_within_the_same_host_is_followed(git_server, git_integrations):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    git_server.redirect("/old/", f"{git_server.base_url}/")
    git_integrations([git_integration(git_server, allow_private_addresses=True)])
    response = client().get(f"{git_server.base_url}/old/acme/shop.git/info/refs?service=git-upload-pack")
    assert response.status == 200


def test_git_follows_no_redirect_at_all(git_server, git_integrations, tmp_path):
    from tests.gitserver import GitServer

    other = GitServer(tmp_path / "other").start()
    try:
        other.commit("acme/shop", {"catalog-info.yaml": CATALOG})
        git_server.redirect("/acme/", f"{other.base_url}/acme/")
        git_integrations([git_integration(git_server, allow_private_addresses=True)])
        with pytest.raises(errors.GitHostError):
            RemoteRepository(git_server.url("acme/shop")).resolve("main")
        assert other.requests == []
    finally:
        other.stop()


def test_an_answer_over_the_size_cap_is_refused(github_api, git_server):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG, "big.yaml": "x" * 5000})
    github_api.add("acme/shop")
    small = GitHostClient(max_bytes=1000)
    with pytest.raises(errors.TooLarge, match="larger than 1000 bytes"):
        small.get(
            f"{github_api.api_url}/repos/acme/shop/contents/big.yaml?ref=main", accept="application/vnd.github.raw"
        )


def test_a_token_is_sent_only_to_the_integrations_own_hosts(github_api, git_server):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    github_api.add("acme/shop")
    host_for(integrations.integration_for_url(github_api.api_url)).read_file(
        repository_from_url(f"{git_server.base_url}/acme/shop"), "main", "catalog-info.yaml"
    )
    assert github_api.requests[-1]["authorization"] == "Bearer ghp_test_token_0123456789"


# --- configuration -----------------------------------------------------------------------------


def test_git_integrations_that_are_not_valid_json_stop_with_a_clear_message(settings):
    settings.GIT_INTEGRATIONS = "[{type: github}"
    integrations.forget()
    with pytest.raises(ImproperlyConfigured, match="GIT_INTEGRATIONS is not valid JSON"):
        integrations.all_integrations()
    settings.GIT_INTEGRATIONS = '[{"type": "svn", "host": "x"}]'
    integrations.forget()
    with pytest.raises(ImproperlyConfigured, match=r"GIT_INTEGRATIONS\[0\]: type must be one of"):
        integrations.all_integrations()
    integrations.forget()


def test_github_defaults_its_api_url_and_enterprise_uses_api_v3(git_integrations):
    git_integrations([{"type": "github", "host": "github.com"}, {"type": "github", "host": "ghe.example.com"}])
    assert integrations.integration_for_url("https://api.github.com/repos/a/b").host == "github.com"
    assert (
        integrations.integration_for_url("https://ghe.example.com/api/v3/x").api_url == "https://ghe.example.com/api/v3"
    )
    assert integrations.integration_for_url("https://gitlab.com/a/b") is None


@pytest.mark.django_db
def test_an_admin_added_token_is_stored_encrypted_and_never_shown_again(client, platform_admin, git_integrations):
    from portal.models import GitIntegration

    client.force_login(platform_admin)
    response = client.post(
        "/admin/portal/gitintegration/add/",
        {
            "type": "gitlab",
            "host": "GitLab.Example.com",
            "api_base_url": "",
            "token": "glpat-secret-value-123",
            "allow_private_addresses": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    row = GitIntegration.objects.get()
    assert row.host == "gitlab.example.com"
    assert "glpat-secret-value-123" not in row.token_encrypted
    assert crypto.decrypt(row.token_encrypted, purpose=integrations.TOKEN_PURPOSE) == "glpat-secret-value-123"
    page = client.get(f"/admin/portal/gitintegration/{row.pk}/change/").content.decode()
    assert "glpat-secret-value-123" not in page and "…-123" in page
    integration = integrations.integration_for_url("https://gitlab.example.com/acme/shop")
    assert integration.token == "glpat-secret-value-123" and integration.source == "admin"
    client.post(
        f"/admin/portal/gitintegration/{row.pk}/change/",
        {
            "type": "gitlab",
            "host": "gitlab.example.com",
            "api_base_url": "",
            "token": "",
            "allow_private_addresses": "",
        },
    )
    row.refresh_from_db()
    assert crypto.decrypt(row.token_encrypted, purpose=integrations.TOKEN_PURPOSE) == "glpat-secret-value-123"


# --- reading: conditional requests, rate limits, pagination, plain Git ----------------------------


def test_an_unchanged_file_is_answered_304_to_a_conditional_request(github_api, git_server):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    github_api.add("acme/shop")
    file = parse_file_url(f"{git_server.base_url}/acme/shop/blob/main/catalog-info.yaml")
    host = host_for(file.repository.integration)
    first = host.read_file(file.repository, file.ref, file.path)
    assert (
        first.changed
        and first.text == CATALOG
        and first.version.strip('"') == git_server.files("acme/shop", "main")["catalog-info.yaml"][0]
    )
    again = host.read_file(file.repository, file.ref, file.path, known=first.version)
    assert not again.changed
    assert github_api.requests[-1]["if_none_match"] == first.version and github_api.requests[-1]["status"] == 304
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG.replace("shop", "shop2")})
    assert host.read_file(file.repository, file.ref, file.path, known=first.version).changed


def test_a_secondary_rate_limit_is_waited_out_and_the_request_sent_again(github_api, git_server):
    git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG})
    github_api.add("acme/shop")
    waits = []
    http = GitHostClient(sleep=waits.append)
    github_api.limit_next(1, kind="secondary", retry_after=2)
    response = http.get(f"{github_api.api_url}/repos/acme/shop")
    assert response.status == 200
    assert len(waits) == 1 and 1 <= waits[0] <= 2
    assert [r["status"] for r in github_api.requests] == [403, 200]


def test_a_secondary_limit_without_retry_after_waits_at_least_a_minute(github_api, git_server):
    github_api.add("acme/shop")
    github_api.limit_next(1, kind="secondary", retry_after=None)
    http = GitHostClient(sleep=lambda s: None, max_rate_wait=10)
    with pytest.raises(errors.RateLimited) as raised:
        http.get(f"{github_api.api_url}/repos/acme/shop")
    from django.utils import timezone

    assert (raised.value.retry_at - timezone.now()).total_seconds() > 55
    before = len(github_api.requests)
    with pytest.raises(errors.RateLimited):
        http.get(f"{github_api.api_url}/repos/acme/shop")
    assert len(github_api.requests) == before, "a blocked host gets no request until the wait is over"


def test_a_spent_primary_limit_waits_until_its_reset(github_api):
    github_api.add("acme/shop")
    github_api.limit_next(1, kind="primary", retry_after=3600)
    with pytest.raises(errors.RateLimited, match="rate-limiting Bridge"):
        GitHostClient(sleep=lambda s: None).get(f"{github_api.api_url}/repos/acme/shop")


def test_an_organisations_repositories_come_page_by_page(github_api, git_server):
    for number in range(130):
        github_api.add(f"acme/repo-{number:03}", archived=number == 7)
    host = host_for(integrations.integration_for_url(github_api.api_url))
    repos = list(host.repositories("acme"))
    assert len(repos) == 130
    assert [r for r in repos if r.archived][0].slug == "acme/repo-007"
    pages = [r for r in github_api.requests if r["path"].endswith("/orgs/acme/repos")]
    assert len(pages) == 2 and pages[1]["query"]["page"] == "2"


def test_a_gitlab_group_lists_the_projects_of_its_subgroups(gitlab_api, git_server):
    git_server.commit("shop/web/storefront", {"catalog-info.yaml": CATALOG})
    gitlab_api.add("shop/web/storefront")
    gitlab_api.add("shop/billing")
    gitlab_api.add("other/thing")
    host = host_for(integrations.integration_for_url(gitlab_api.api_url))
    assert sorted(r.slug for r in host.repositories("shop")) == ["shop/billing", "shop/web/storefront"]
    repo = next(r for r in host.repositories("shop") if r.name == "storefront")
    first = host.read_file(repo, "main", "catalog-info.yaml")
    assert first.changed and first.text == CATALOG
    again = host.read_file(repo, "main", "catalog-info.yaml", known=first.version)
    assert not again.changed and gitlab_api.requests[-1]["method"] == "HEAD"


def test_a_gitlab_file_url_names_its_project_ref_and_path(gitlab_api, git_server):
    file = parse_file_url(f"{git_server.base_url}/shop/web/storefront/-/blob/main/docs/catalog-info.yaml")
    assert (file.repository.slug, file.ref, file.path) == ("shop/web/storefront", "main", "docs/catalog-info.yaml")


def test_plain_git_reads_files_of_a_commit_over_smart_http(git_server, git_integrations):
    first = git_server.commit("acme/shop", {"catalog-info.yaml": CATALOG, "docs/api.yaml": "openapi: 3.0.0\n"})
    git_integrations([git_integration(git_server, allow_private_addresses=True)])
    repo = RemoteRepository(git_server.url("acme/shop"))
    assert repo.resolve("main") == first and repo.default_branch() == "main"
    snapshot = repo.snapshot(first)
    assert snapshot.paths() == ["catalog-info.yaml", "docs/api.yaml"]
    assert snapshot.read("docs/api.yaml") == b"openapi: 3.0.0\n"
    second = git_server.commit("acme/shop", {"docs/api.yaml": None})
    assert repo.resolve("main") == second and repo.snapshot(second).paths() == ["catalog-info.yaml"]
    with pytest.raises(errors.NotFound):
        repo.resolve("no-such-branch")


def test_an_integration_an_admin_just_added_is_found_by_a_process_that_read_the_list_before():
    from portal.models import GitIntegration

    # A worker read the integrations seconds ago; then a Platform Admin added one in the web process.
    integrations.forget()
    assert integrations.integration_for_host("git.new.example") is None
    GitIntegration.objects.create(type="gitlab", host="git.new.example", api_base_url="https://git.new.example/api/v4")

    found = integrations.integration_for_host("git.new.example")

    assert found is not None and found.host == "git.new.example"
