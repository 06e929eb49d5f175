"""The lookup by reference through the portal's WSGI handler (portal.handler.PortalHandler), as gunicorn
calls it: the lean route answers the plain case exactly as Django's full path would, and every other
case (refused, unknown, throttled, a browser, a wrong host, plain HTTP where HTTPS is required) is the
full path's own answer."""

import io
import sys

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection
from django.utils import timezone

from catalog.api.lean import EntityByRef
from portal import services as portal_services
from portal.handler import PortalHandler
from tests.catalog.test_import import FULL
from tests.catalog.test_read_path import HOSTILE

pytestmark = pytest.mark.django_db

BY_REF = "/api/catalog/entities/by-ref/"
POSTGRESQL = connection.vendor == "postgresql"


def call(app, path, *, token=None, accept="application/json", query="", host="testserver", **extra):
    """What a WSGI server gets back from ``app``: the status code, the headers and the body."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path.encode().decode("latin-1"),  # as servers pass it (PEP 3333)
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        **extra,
    }
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), headers

    # As Django's test client does: the test's transaction must survive the request's end.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = app(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answer["status"], dict(answer["headers"]), body


@pytest.fixture
def handlers():
    return PortalHandler(), WSGIHandler()


@pytest.fixture
def lean_answers(monkeypatch):
    """The lookups the lean route answered itself (rather than declined)."""
    answered = []
    original = EntityByRef.__call__

    def counting(self, request):
        response = original(self, request)
        answered.append(request.path)
        return response

    monkeypatch.setattr(EntityByRef, "__call__", counting)
    return answered


def token_for(user, scopes=("read",)) -> str:
    return portal_services.token_create(user=user, name="lean", scopes=list(scopes)).key


def same_answer(lean, full):
    """Equal status, body and headers; Date aside, and the full path's Vary also names Cookie (its
    session middleware), which does not change a token's answer."""
    (status, headers, body), (full_status, full_headers, full_body) = lean, full
    assert (status, body) == (full_status, full_body)
    for answer in (headers, full_headers):
        answer.pop("Date", None)
        answer["Vary"] = ", ".join(v for v in answer.get("Vary", "").split(", ") if v and v != "Cookie")
    assert headers == full_headers


def test_every_entity_by_reference_is_the_full_paths_answer(handlers, lean_answers, developer, import_text):
    from catalog.models import Entity

    result = import_text(FULL + "---" + HOSTILE)
    assert not result.problems, result.problems
    token = token_for(developer)
    portal, django_only = handlers
    for entity in Entity.objects.all():
        kind, rest = entity.ref.split(":", 1)
        namespace, name = rest.split("/", 1)
        path = f"{BY_REF}{kind}:{namespace}/{name.upper()}/"
        for accept in ("application/json", "*/*", None):
            lean = call(portal, path, token=token, accept=accept)
            assert lean[0] == 200, (path, lean)
            same_answer(lean, call(django_only, path, token=token, accept=accept))
    hostile = call(portal, f"{BY_REF}component:default/hostile", token=token)
    assert hostile[1]["Content-Type"] == "application/json"
    assert hostile[1]["X-Content-Type-Options"] == "nosniff" and hostile[1]["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in hostile[1]["Content-Security-Policy"]
    if POSTGRESQL:  # PostgreSQL writes the JSON the lean route sends; elsewhere the full path serializes it
        assert len(lean_answers) == 3 * Entity.objects.count() + 1
    else:
        assert lean_answers == []


@pytest.mark.parametrize(
    "case",
    [
        "no token",
        "unknown token",
        "revoked token",
        "expired token",
        "inactive owner",
        "unknown entity",
        "a browser",
        "a query string",
        "a host not allowed",
        "a path beside the route",
        "a name in another script",
        "a NUL character",
    ],
)
def test_what_the_lean_route_declines_is_the_full_paths_answer(case, handlers, lean_answers, developer, import_text):
    import_text(FULL)
    token = token_for(developer)
    path, kwargs = f"{BY_REF}component:default/checkout/", {"token": token}
    if case == "no token":
        kwargs = {}
    elif case == "unknown token":
        kwargs["token"] = "brg_" + "x" * 43
    elif case == "revoked token":
        portal_services.token_revoke(user=developer, token_id=developer.api_tokens.get().pk)
    elif case == "expired token":
        developer.api_tokens.update(expires_at=timezone.now())
    elif case == "inactive owner":
        developer.is_active = False
        developer.save()
    elif case == "unknown entity":
        path = f"{BY_REF}component:default/nothing/"
    elif case == "a browser":
        kwargs["accept"] = "text/html,application/xhtml+xml"
    elif case == "a query string":
        kwargs["query"] = "format=json"
    elif case == "a host not allowed":
        kwargs["host"] = "evil.example"
    elif case == "a path beside the route":
        path = f"{BY_REF}component-checkout/"
    elif case == "a name in another script":
        path = f"{BY_REF}component:default/caf\u00e9-\u6f22\u5b57-\U0001f600/"
    elif case == "a NUL character":
        path = f"{BY_REF}component:default/check\x00out/"
    portal, django_only = handlers
    lean = call(portal, path, **kwargs)
    expected = {
        "no token": 401,
        "unknown token": 401,
        "revoked token": 401,
        "expired token": 401,
        "inactive owner": 401,
        "unknown entity": 404,
        "a browser": 200,
        "a query string": 200,
        "a host not allowed": 400,
        "a path beside the route": 404,
        "a name in another script": 404,
        "a NUL character": 400,
    }[case]
    assert lean[0] == expected, lean
    if lean[0] == 401:
        assert lean[1]["WWW-Authenticate"] == "Bearer"
    full = call(django_only, path, **kwargs)
    if case == "a browser":  # the browsable API: the same page, each with its own CSRF token
        assert lean[1]["Content-Type"] == full[1]["Content-Type"] == "text/html; charset=utf-8"
        assert b"checkout" in lean[2]
    else:
        same_answer(lean, full)
    assert lean_answers == []


def test_a_revoked_token_is_refused_at_once_however_often_it_was_used(handlers, developer, import_text):
    import_text(FULL)
    token = token_for(developer)
    portal, _ = handlers
    path = f"{BY_REF}component:default/checkout/"
    # More lookups than PostgreSQL needs to prepare the statements: nothing about a token is kept.
    assert [call(portal, path, token=token)[0] for _ in range(8)] == [200] * 8
    portal_services.token_revoke(user=developer, token_id=developer.api_tokens.get().pk)
    assert call(portal, path, token=token)[0] == 401
    developer.api_tokens.update(revoked_at=None)
    assert call(portal, path, token=token)[0] == 200
    developer.is_active = False
    developer.save()
    assert call(portal, path, token=token)[0] == 401


def test_the_lean_route_counts_against_the_throttle_and_the_full_path_refuses_with_retry_after(
    settings, handlers, lean_answers, developer, import_text
):
    settings.API_THROTTLE_RATES = {"token": "3/minute", "user": None}
    import_text(FULL)
    token = token_for(developer)
    portal, _ = handlers
    path = f"{BY_REF}component:default/checkout/"
    answers = [call(portal, path, token=token) for _ in range(4)]
    assert [status for status, _headers, _body in answers] == [200, 200, 200, 429]
    assert int(answers[-1][1]["Retry-After"]) > 0
    assert len(lean_answers) == (3 if POSTGRESQL else 0)


def test_plain_http_is_sent_to_https_when_the_portal_requires_it(settings, developer, import_text):
    settings.SECURE_SSL_REDIRECT = True
    import_text(FULL)
    token = token_for(developer)
    portal, django_only = PortalHandler(), WSGIHandler()  # the security middleware reads the setting when built
    path = f"{BY_REF}component:default/checkout/"
    lean = call(portal, path, token=token)
    assert lean[0] == 301 and lean[1]["Location"] == f"https://testserver{path}"
    same_answer(lean, call(django_only, path, token=token))
    secure = call(portal, path, token=token, **{"wsgi.url_scheme": "https"})
    assert secure[0] == 200
    same_answer(secure, call(django_only, path, token=token, **{"wsgi.url_scheme": "https"}))
