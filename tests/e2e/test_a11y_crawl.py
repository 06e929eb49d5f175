"""Every page readable by everyone: an accessibility and layout crawl over the whole route table.

The role matrix (``tests/security/test_role_matrix.py``) requests every URL pattern as every role;
this crawl opens every HTML page of the same route table, with the same world
(``tests/security/world.py``) made hostile (``tests/a11y/hostile.py``: 255-character branch names,
63-character entity names, long unbroken words, 50 tags, right-to-left and CJK text, a 3,000 px
image, wide tables, long code lines), in Debian's Chromium, as a developer, an approver and a
Platform Admin, at 1,280 × 800 and at 390 × 844. On each page it fails on

- any axe-core violation of impact ``serious`` or ``critical`` (colour contrast included); axe-core
  comes from npm (``tests/a11y/package.json``, installed by ``npm ci`` there, as ``.ci/run`` does)
  and Playwright puts it into the page: no CDN;
- a document wider than the window at 1,280 px;
- a console error, an uncaught script error, or a Content Security Policy violation.

``CRAWL`` has a row for every URL pattern that is not an API endpoint: ``PAGE`` (opened by each
role whose role-matrix cell says 200), or why the crawl does not open it (a fragment of a page it
opens, a download, another format). A new URL pattern without a row fails
``test_every_url_pattern_has_a_crawl_row``, as in the role matrix.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, log_in
from tests.security import test_role_matrix as matrix
from tests.security.routes import all_routes
from tests.worker import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
ROLES = {"developer": "dev", "approver": "appr", "platform_admin": "padmin"}  # role -> username
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
FAILING_IMPACTS = {"serious", "critical"}
SHOTS = bool(os.environ.get("BRIDGE_A11Y_SCREENSHOTS"))  # every page at both sizes, in test-artifacts/a11y/
PHONE_OVERFLOW: set[str] = set()  # pages wider than a phone's screen: reported, not (yet) failed

PAGE = "page"
ANONYMOUS = "anonymous"  # a page for people who are not signed in: opened once, signed out
FRAGMENT = "a fragment that its page loads (htmx): checked inside that page"
NOT_HTML = "not HTML"
POST = "POST only: nothing to see"
MOVED = "a permanent redirect from before incidents had their own app (tests/incidents/test_moved_urls.py)"

CRAWL = {
    "": PAGE,
    "accounts/login/": ANONYMOUS,
    "accounts/logout/": POST,
    "accounts/oidc/start/": "a redirect to the identity provider",
    "accounts/oidc/callback/": "a redirect back from the identity provider",
    "accounts/profile/": PAGE,
    "notifications/": PAGE,
    "notifications/preferences/": PAGE,
    "audit/": PAGE,
    "search/": PAGE,
    "healthz": NOT_HTML + " (plain text for probes)",
    "readyz": NOT_HTML + " (plain text for probes)",
    "metrics": NOT_HTML + " (Prometheus text)",
    "admin/": "Django's own admin site, outside the portal's templates",
    "api/docs/": PAGE,
    "catalog/": PAGE,
    "create/": PAGE,
    "create/templates/<name>/": PAGE,
    "create/runs/<pk>/": PAGE,
    "incidents/": PAGE,
    "incidents/<incident_id>/": PAGE,
    "incidents/<incident_id>/steps/": FRAGMENT,
    "incidents/alerts/unrouted/": PAGE,
    "catalog/export/": NOT_HTML + " (YAML download)",
    "catalog/import/": PAGE,
    "catalog/new/": PAGE,
    "catalog/orphans/": PAGE,
    "catalog/sources/": PAGE,
    "catalog/sources/one/": PAGE,
    "catalog/me/": PAGE,
    "catalog/scorecards/": PAGE,
    "catalog/scorecards/new/": PAGE,
    "catalog/scorecards/<pk>/": PAGE,
    "catalog/scorecards/<pk>/edit/": PAGE,
    "catalog/locations/": PAGE,
    "catalog/locations/<pk>/": PAGE,
    "catalog/<kind>/<namespace>/<name>/": PAGE,
    "catalog/<kind>/<namespace>/<name>/edit/": PAGE,
    "catalog/<kind>/<namespace>/<name>/export/": NOT_HTML + " (YAML download)",
    "environments/": PAGE,
    "environments/approvals/": PAGE,
    "environments/new/<name>/": PAGE,
    "environments/requests/<pk>/": PAGE,
    "environments/requests/<pk>/live/": FRAGMENT,
    "environments/requests/<pk>/log/": FRAGMENT,
    "environments/requests/<pk>/status/": FRAGMENT,
    "environments/drifted/": PAGE,
    "pipelines/": PAGE,
    "pipelines/runs/<run_id>/": PAGE,
    "pipelines/entity/<kind>/<namespace>/<name>/": PAGE,
    "pipelines/entity/<kind>/<namespace>/<name>/dora/": PAGE,
    "pipelines/team/<namespace>/<name>/": PAGE,
    "pipelines/team/<namespace>/<name>/dora/": PAGE,
    "pipelines/integrations/": PAGE,
    "pipelines/integrations/<integration_id>/": PAGE,
    "knowledge/": PAGE,
    "knowledge/search/": PAGE,
    "knowledge/spaces/new/": PAGE,
    "knowledge/template/": NOT_HTML + " (a kind's starting Markdown, for the editor)",
    "knowledge/incidents/": MOVED,
    "knowledge/incidents/<incident_id>/": MOVED,
    "knowledge/incidents/<incident_id>/steps/": MOVED,
    "knowledge/incidents/<incident_id>/steps/<number>/": MOVED,
    "knowledge/incidents/<incident_id>/close/": MOVED,
    "knowledge/s/<key>/p/<slug>/incidents/start/": MOVED,
    "knowledge/docs/<entity_id>/": "a service's own mkdocs site, in a frame of its catalog page (built by mkdocs)",
    "knowledge/docs/<entity_id>/<path>": "a file of that site",
    "knowledge/icons/<name>": NOT_HTML + " (SVG icons)",
    "knowledge/site/<token>/": "a space's mkdocs site (built by mkdocs)",
    "knowledge/site/<token>/<path>": "a file of that site",
    "knowledge/s/<key>/": PAGE,
    "knowledge/s/<key>/settings/": PAGE,
    "knowledge/s/<key>/new/": PAGE,
    "knowledge/s/<key>/export.zip": NOT_HTML + " (ZIP download)",
    "knowledge/s/<key>/import/": PAGE,
    "knowledge/s/<key>/site/": "a space's mkdocs site (built by mkdocs)",
    "knowledge/s/<key>/site/<path>": "a file of that site",
    "knowledge/s/<key>/p/<slug>/": PAGE,
    "knowledge/s/<key>/p/<slug>/edit/": PAGE,
    "knowledge/s/<key>/p/<slug>/history/": PAGE,
    "knowledge/s/<key>/p/<slug>/diff/": PAGE,
    "knowledge/s/<key>/p/<slug>/revisions/<number>/": PAGE,
    "knowledge/s/<key>/p/<slug>/files/<name>": NOT_HTML + " (the attached file itself)",
}

ROUTES = [route for route in all_routes() if not route.suffix]


def _browser_routes() -> list:
    """Every URL pattern but the API's (JSON; its documentation page excepted)."""
    return [route for route in ROUTES if not route.key.startswith("api/") or route.key == "api/docs/"]


def _html_routes() -> list:
    """Those a GET may show: the POST-only ones (as the role matrix says) have nothing to see."""
    return [route for route in _browser_routes() if matrix.GET.get(route.key) != matrix.POST_ONLY]


def test_every_url_pattern_has_a_crawl_row():
    keys = {route.key for route in _html_routes()}
    missing = sorted(keys - set(CRAWL))
    assert not missing, "HTML URL patterns without a row in the crawl (CRAWL):\n" + "\n".join(missing)
    stale = sorted(set(CRAWL) - {route.key for route in _browser_routes()})
    assert not stale, "Crawl rows for URL patterns that no longer exist, or are POST only:\n" + "\n".join(stale)


@dataclass
class Visit:
    label: str  # the route key, or what else was opened
    url: str
    roles: tuple[str, ...]
    status: int = 200
    # The error pages as production serves them: the running portal has DEBUG on, and shows Django's
    # own 404 and 500 pages, so these are rendered here (DEBUG off) and handed to the browser.
    render: object = None  # (user) -> HTML


def _visits(w) -> list[Visit]:
    """What the crawl opens: every PAGE row, as each role the role matrix gives a 200; then the
    entity page's tabs and the other kinds of entity, a search with results, and the error pages."""
    visits = []
    for route in _html_routes():
        if CRAWL[route.key] != PAGE:
            continue
        roles = tuple(role for role in ROLES if "200" in matrix.expected(matrix.GET[route.key], role))
        url = matrix.url_for(route, w) + matrix.QUERY.get(route.key, "")
        visits.append(Visit(route.key, url, roles))
    from catalog.views import _tabs

    entity = f"/catalog/component/default/{w.entity.name}/"
    everyone = tuple(ROLES)
    for key, _title in _tabs(w.entity):
        if key != "overview":
            visits.append(Visit(f"catalog entity, tab {key}", f"{entity}?tab={key}", everyone))
    for label, obj in (("group", w.team), ("user", w.user_entity), *getattr(w, "extra_entities", [])):
        page = f"/catalog/{obj.kind.lower()}/{obj.namespace}/{obj.name}/"
        visits.append(Visit(f"catalog {label}", page, everyone))
        if obj.kind == "API":  # the Definition tab (Swagger UI or highlighted source) is the API's own
            visits.append(Visit(f"catalog {label}, tab definition", f"{page}?tab=definition", everyone))
    visits += [
        Visit("search with results", "/search/?q=matrix", everyone),
        Visit("knowledge search with results", "/knowledge/search/?q=matrix", everyone),
        Visit("catalog filtered", "/catalog/?kind=Component&q=matrix", everyone),
        Visit("a page one may not see (403)", "/audit/", ("developer",), 403),
        Visit("a page that does not exist (404)", "/catalog/component/default/no-such-thing/", everyone, 404, _404),
        Visit("a server error (500)", "/catalog/?a11y-crawl=500", ("developer",), 500, _500),
    ]
    visits += getattr(w, "extra_visits", [])
    return visits


def _404(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get("/catalog/component/default/no-such-thing/")
    assert response.status_code == 404
    return response.content.decode()


def _500(user) -> str:
    from django.test import RequestFactory

    from portal.views import error_500

    return error_500(RequestFactory().get("/")).content.decode()


def _serve(page, portal_url: str, visit: Visit, user) -> None:
    from portal.security import content_security_policy

    html = visit.render(user)
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": content_security_policy()}
    page.route(portal_url + visit.url, lambda route: route.fulfill(status=visit.status, headers=headers, body=html))


# Collects what a page reported while it loaded: console errors, uncaught errors, CSP violations
# (the browser also logs those to the console, as errors).
WATCH = """
window.__bridgeProblems = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var blocked = event.blockedURI || "inline";
  window.__bridgeProblems.push("CSP violation: " + event.violatedDirective + " blocked " + blocked);
});
"""

AXE_RUN = """async (impacts) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => impacts.includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " — " +
                                               (n.failureSummary || "").split("\\n").slice(1, 2).join("")),
                count: v.nodes.length}));
}"""

# Descriptions and labels that point at nothing: a screen reader reads no help text, no error.
DANGLING = """() => [...document.querySelectorAll("[aria-describedby], [aria-labelledby]")].flatMap(el =>
  ((el.getAttribute("aria-describedby") || "") + " " + (el.getAttribute("aria-labelledby") || ""))
    .split(/\\s+/).filter(id => id && !document.getElementById(id))
    .map(id => (el.name || el.id || el.tagName.toLowerCase()) + " is described by #" + id +
               ", which is not on the page"))"""

SETTLE = """async () => {
  // htmx fragments that a page loads at once ("load" triggers) are part of what a person sees.
  // Until their requests are answered and the answers swapped in and settled.
  for (let i = 0; i < 40 && document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling"); i++) {
    await new Promise(r => setTimeout(r, 50));
  }
  // Swagger UI draws the API documentation after its script loads: wait for the operations.
  const swagger = document.querySelector("#swagger-ui, [data-openapi-ui]");
  for (let i = 0; swagger && i < 100 && !swagger.querySelector(".opblock, .errors-wrapper"); i++) {
    await new Promise(r => setTimeout(r, 50));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

WIDTH = "[document.documentElement.scrollWidth, window.innerWidth]"

# The innermost elements that reach past the window's right edge: what makes a page too wide.
STICKING_OUT = """() => {
  const room = window.innerWidth + 1;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    [...el.classList].map(c => "." + c).join("");
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.getBoundingClientRect().right <= room) continue;
    if ([...el.children].some(child => child.getBoundingClientRect().right > room)) continue;
    const path = [];
    for (let e = el; e && e !== document.body && path.length < 4; e = e.parentElement) path.unshift(name(e));
    out.push(path.join(" > ") + " (" + Math.round(el.getBoundingClientRect().right) + " px)");
  }
  return out.slice(0, 3);
}"""


def _check_page(page, visit: Visit, console: list[str]) -> list[str]:
    problems = []
    for name, viewport in VIEWPORTS.items():
        if name != "desktop":
            page.set_viewport_size(viewport)
        page.evaluate(SETTLE)
        width, room = page.evaluate(WIDTH)
        if SHOTS:
            shot = (
                f"{visit.label or 'home'}-{name}".replace("/", "_").replace(" ", "_").replace("<", "").replace(">", "")
            )
            (ARTIFACTS / "a11y").mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "a11y" / f"{shot[:150]}.png"), full_page=True)
        if name == "phone" and width > room:
            PHONE_OVERFLOW.add(f"{visit.url} ({width} px): " + "; ".join(page.evaluate(STICKING_OUT)))
        if name == "desktop":
            problems += page.evaluate(DANGLING)
        if name == "desktop" and width > room:
            wide = "; ".join(page.evaluate(STICKING_OUT))
            problems.append(f"the document is {width} px wide in a {room} px window: {wide}")
        for violation in page.evaluate(AXE_RUN, sorted(FAILING_IMPACTS)):
            where = "; ".join(violation["nodes"])
            problems.append(
                f"[{name}] axe {violation['impact']} {violation['id']} ({violation['help']}), "
                f"{violation['count']} element(s): {where}"
            )
    page.set_viewport_size(VIEWPORTS["desktop"])
    problems += page.evaluate("window.__bridgeProblems || []")
    problems += console
    return problems


def _crawl_as(browser, portal_url: str, role: str | None, visits: list[Visit], failures: list[str], user=None) -> int:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    context.set_default_timeout(30000)
    context.add_init_script(script=WATCH)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: message.type == "error" and console.append(f"console error: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"script error: {error}"))
    rows = 0
    try:
        if role:
            log_in(page, portal_url, ROLES[role], PASSWORD)
        for visit in visits:
            console.clear()
            if visit.render:
                _serve(page, portal_url, visit, user)
            response = page.goto(portal_url + visit.url)
            status = response.status if response else 0
            problems = [] if status == visit.status else [f"answered {status}, expected {visit.status}"]
            if status == visit.status:
                problems += _check_page(page, visit, list(console))
            if visit.status >= 400:  # an error page's status is logged as a failed resource
                problems = [p for p in problems if "the server responded with a status of" not in p]
            rows += len(VIEWPORTS)
            if problems:
                ARTIFACTS.mkdir(exist_ok=True)
                name = f"a11y-{role or 'anonymous'}-{visit.label or 'home'}".replace("/", "_").replace(" ", "_")
                page.screenshot(path=str(ARTIFACTS / f"{name[:150]}.png"), full_page=True)
                failures.append(
                    f"{role or 'anonymous'} {visit.url} ({visit.label or 'home'}):\n    " + "\n    ".join(problems)
                )
    finally:
        context.close()
    return rows


@pytest.fixture
def hostile_world(developer, teammate, stranger, approver, platform_admin, settings):
    from tests.a11y import hostile

    users = {
        "developer": developer,
        "teammate": teammate,
        "stranger": stranger,
        "approver": approver,
        "platform_admin": platform_admin,
    }
    return hostile.build(users)


def test_every_page_passes_axe_fits_the_screen_and_logs_no_error(browser, portal_url, hostile_world, record_property):
    if not AXE.is_file():
        message = "axe-core is not installed: run `npm ci` in tests/a11y (as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    visits = _visits(hostile_world)
    failures: list[str] = []
    started = time.monotonic()
    rows = 0
    for role in ROLES:
        user = hostile_world.users[role]
        rows += _crawl_as(browser, portal_url, role, [v for v in visits if role in v.roles], failures, user)
    login = [Visit("accounts/login/", "/accounts/login/", ())]
    rows += _crawl_as(browser, portal_url, None, login, failures)
    seconds = time.monotonic() - started
    pages = sum(1 for key, row in CRAWL.items() if row in (PAGE, ANONYMOUS))
    # Printed at the end of a plain `make test` too, also from a parallel process (tests/conftest.py).
    record_property(
        "summary",
        f"accessibility crawl: {len(CRAWL)} URL patterns with a row ({pages} pages), "
        f"{len(visits) + 1} addresses, "
        f"{rows} rows (role × viewport × page) in {seconds:.0f} s; {len(failures)} with problems; "
        f"{len(PHONE_OVERFLOW)} wider than a 390 px phone",
    )
    for line in sorted(PHONE_OVERFLOW):
        print("wider than a phone:", line)
    assert not failures, f"{len(failures)} pages with problems:\n" + "\n".join(failures)
