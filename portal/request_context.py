"""The request being served, for code far from the view (signal handlers, the audit log).

``RequestContextMiddleware`` keeps the current request in a context variable for the
duration of the request, so that an audit event written from a model signal can name
the signed-in user and their IP address. Outside a request (Celery tasks, management
commands, tests calling services) there is none and both are ``None``.
"""

from __future__ import annotations

from contextvars import ContextVar

_current_request: ContextVar = ContextVar("bridge_current_request", default=None)


def client_ip(request) -> str | None:
    """The client's real address, behind the trusted proxies (``portal.accounts.network``)."""
    from portal.accounts.network import client_ip as real_client_ip

    return real_client_ip(request)


def current_request():
    return _current_request.get()


def current_user():
    """The signed-in user of the current request, or None (anonymous, or no request)."""
    request = _current_request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if getattr(user, "is_authenticated", False) else None


def current_ip() -> str | None:
    return client_ip(_current_request.get())


class RequestContextMiddleware:
    """Makes the request available to ``current_user()`` and ``current_ip()`` while it is served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
