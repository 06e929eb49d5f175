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


def _my_team(user, services: int, *, start: int = 0):
    """A team with the user in it, owning ``services`` components; each but the first has a repository
    (linked, or named by its annotation) with a pipeline whose default branch ran twice and a
    feature branch once, and a scorecard result (the last has none)."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog import services as catalog_services
    from catalog.models import Entity, Scorecard, ScorecardResult
    from pipelines.models import Pipeline, Repository, Run

    docs = [  # the team comes with the first services (a second source listing it too would be a conflict)
        "kind: Group\nmetadata: {name: team-home}\nspec: {type: team}",
        f"kind: User\nmetadata: {{name: {user.username}}}\nspec: {{memberOf: [team-home]}}",
    ][: 2 if start == 0 else 0]
    for i in range(start, start + services):
        docs.append(
            f"kind: Component\nmetadata: {{name: svc-{i:02d}, "
            f"annotations: {{github.com/project-slug: Acme/svc-{i:02d}}}}}\n"  # matched case-insensitively
            "spec: {type: service, lifecycle: production, owner: team-home}"
        )
    text = "\n---\n".join(f"apiVersion: backstage.io/v1alpha1\n{doc}" for doc in docs)
    result = catalog_services.catalog_import_text(text=text, name=f"home-{start}")
    assert not result.problems, result.problems
    catalog_services.portal_user_link(entity=Entity.objects.get(ref_key=f"user:default/{user.username}"), user=user)

    ready, _ = Scorecard.objects.get_or_create(name="Readiness", defaults={"rules": []})
    docs_card, _ = Scorecard.objects.get_or_create(name="Docs", defaults={"rules": []})
    now = timezone.now()
    for i in range(start, start + services):
        entity = Entity.objects.get(ref_key=f"component:default/svc-{i:02d}")
        if i == start:
            continue  # no repository, no scorecard: the empty states
        linked = i % 2 == 0  # odd ones are matched by their annotation only
        repo = Repository.objects.create(
            provider="github", slug=f"acme/svc-{i:02d}", default_branch="main", entity=entity if linked else None
        )
        pipeline = Pipeline.objects.create(repository=repo, name="CI")
        runs = [
            Run.objects.create(
                pipeline=pipeline,
                provider_id=f"{i}-{n}",
                branch=branch,
                status=status,
                created_at=now - timedelta(hours=hours),
                number=n,
            )
            for n, (branch, status, hours) in enumerate(
                [("main", "success", 5), ("main", "failed" if i % 3 else "success", 3), ("feature/x", "running", 1)]
            )
        ]
        pipeline.default_branch_run, pipeline.last_run = runs[1], runs[2]
        pipeline.save()
        if i < start + services - 1:
            ScorecardResult.objects.create(scorecard=ready, entity=entity, level="silver", outcomes=[], computed_at=now)
            ScorecardResult.objects.create(scorecard=docs_card, entity=entity, level="", outcomes=[], computed_at=now)


def _home_queries(client) -> tuple[int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("role", ["developer", "approver", "platform_admin"])
def test_my_services_with_scorecards_and_pipelines_keep_the_query_count_flat(role, request, login):
    user = request.getfixturevalue(role)
    client = login(user)
    _home_queries(client)  # warm the per-process caches (content types, session)
    _my_team(user, 3)
    few, body = _home_queries(client)
    assert "svc-00" in body and "svc-02" in body
    _my_team(user, 7, start=3)  # ten services in all, the most the panel shows
    _home_queries(client)
    many, body = _home_queries(client)
    assert "svc-09" in body
    assert many == few, f"{few} queries for 3 services, {many} for 10"
    assert many <= 14, many


def test_my_services_shows_scorecard_levels_and_the_default_branch_status(login, developer):
    _my_team(developer, 4)
    body = login(developer).get(reverse("home")).content.decode()
    rows = {
        name: body[body.index(f">{name}</a>") : body.index("</tr>", body.index(f">{name}</a>"))]
        for name in ("svc-00", "svc-01", "svc-02", "svc-03")
    }
    # svc-00: no repository and no scorecard
    assert "No scorecard" in rows["svc-00"] and "No runs yet" in rows["svc-00"]
    # svc-01: matched by annotation; its latest default-branch run failed (the feature branch does not count)
    assert "Readiness: Silver" in rows["svc-01"] and "Docs: No level yet" in rows["svc-01"]
    assert 'class="badge badge-bad"' in rows["svc-01"] and ">failed</a>" in rows["svc-01"]
    assert "running" not in rows["svc-01"]
    # svc-02: linked repository
    assert ">failed</a>" in rows["svc-02"]
    # svc-03: its last main run succeeded; no scorecard result yet
    assert 'class="badge badge-ok"' in rows["svc-03"] and ">success</a>" in rows["svc-03"]
    assert "No scorecard" in rows["svc-03"]


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
