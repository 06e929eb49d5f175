"""Role × endpoint matrix: every URL of the portal without path parameters, for every role.

Each row says what each role gets. Pages with path parameters are covered by
their apps' own permission tests (owner, teammate, stranger, approver, admin).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "developer", "approver", "platform_admin")

PUBLIC = {"/accounts/login/", "/healthz", "/readyz", "/metrics", "/api/schema/", "/api/docs/"}
ADMIN_ONLY = {
    "/audit/": 403,
    "/api/audit/": 403,
    "/admin/": 302,  # to the admin's own sign-in page, which refuses non-admins
    "/pipelines/integrations/": 403,
    "/catalog/scorecards/new/": 403,
}
APPROVER_ONLY = {"/environments/approvals/": 403}
# Writing to the catalog needs a team (these users are in none) or the Platform Admin role.
TEAM_OR_ADMIN = {"/catalog/import/": 403, "/catalog/new/": 403}
# Explicit answers that are the same for every signed-in role.
SIGNED_IN = {
    "/accounts/login/": {302},  # already signed in: on to the home page
    "/api/pipelines/metrics/": {400},  # names the missing entity or team
    "/pipelines/integrations/new/": {405},  # POST only; who may POST is tested in tests/pipelines
}
POST_ONLY_OR_SPECIAL = {"/accounts/logout/"}


def _concrete_paths(resolver=None, prefix="") -> list[str]:
    resolver = resolver or get_resolver()
    paths = []
    for entry in resolver.url_patterns:
        pattern = str(entry.pattern)
        if "<" in pattern or "(?P" in pattern or "\\" in pattern or "^" in pattern.lstrip("^")[:0]:
            continue
        route = prefix + pattern.lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            paths.extend(_concrete_paths(entry, route))
        elif isinstance(entry, URLPattern):
            if any(ch in route for ch in "<([?*+\\"):
                continue
            paths.append("/" + route)
    return sorted({p for p in paths if not p.startswith("/admin/") or p == "/admin/"})


PATHS = [p for p in _concrete_paths() if p not in POST_ONLY_OR_SPECIAL and not p.startswith("/static/")]


def test_the_matrix_covers_the_main_areas():
    for expected in ("/", "/catalog/", "/environments/", "/pipelines/", "/knowledge/", "/api/me/", "/search/"):
        assert expected in PATHS
    assert len(PATHS) > 30


def _expected(path: str, role: str) -> set[int]:
    api = path.startswith("/api/")
    if role == "anonymous" and path == "/admin/":
        return {302}
    if role != "anonymous" and path in SIGNED_IN:
        return SIGNED_IN[path]
    if path in PUBLIC:
        return {200, 503} if path == "/readyz" else {200}
    if "/hooks/" in path:
        return {401, 404, 405}
    if role == "anonymous":
        return {401, 403} if api else {302}
    if path in ADMIN_ONLY and role != "platform_admin":
        return {ADMIN_ONLY[path]}
    if path in APPROVER_ONLY and role == "developer":
        return {APPROVER_ONLY[path]}
    if path in TEAM_OR_ADMIN and role != "platform_admin":
        return {TEAM_OR_ADMIN[path]}
    return {200, 302, 405}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_the_rules_say(role, request, client):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    wrong = []
    for path in PATHS:
        response = client.get(path)
        if response.status_code not in _expected(path, role):
            wrong.append(f"{path}: {response.status_code}, expected {sorted(_expected(path, role))}")
        if role == "anonymous" and response.status_code == 302 and path not in PUBLIC:
            assert response.url.startswith(("/accounts/login/", "/admin/login/")), path
    assert not wrong, "\n".join(wrong)
