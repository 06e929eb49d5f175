"""Django's WSGI handler, with lean routes for the hottest API calls.

A lean route (today one: ``catalog.api.lean.EntityByRef``) answers its plain case without Django's
whole middleware chain, URL resolution and DRF's dispatch, running the API view's own
authentication, permission and throttle classes. It runs inside the middleware that shapes every
answer (``RESPONSE_MIDDLEWARE``). Whatever it declines, Django's full path answers, so a lean route
can only make a request faster, never answer it differently.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# The middleware that applies to every request and answer, whoever asks: request metrics, host
# checks, the HTTPS redirect and HSTS, security headers, NUL characters refused, Content-Length.
# Taken in settings.MIDDLEWARE's order. The others serve browsers (sessions, CSRF, sign-in,
# messages, htmx, lock-outs, static files), and a lean route answers only token-authenticated GETs.
RESPONSE_MIDDLEWARE = frozenset(
    {
        "portal.metrics.PrometheusMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "portal.security.SecurityHeadersMiddleware",
        "portal.security.RejectNulCharactersMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)


def _lean_routes() -> list:
    from catalog.api.lean import EntityByRef

    return [EntityByRef()]


class PortalHandler(WSGIHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from catalog.api.lean import Declined

        self._declined = Declined
        self._lean = []
        for route in _lean_routes():
            chain = route
            for path in reversed([name for name in settings.MIDDLEWARE if name in RESPONSE_MIDDLEWARE]):
                chain = import_string(path)(chain)
            self._lean.append((route, chain))

    def __call__(self, environ, start_response):
        for route, chain in self._lean:
            if route.claims(environ):
                response = self._lean_response(chain, environ)
                if response is not None:
                    return self._send(response, start_response)
                break
        return super().__call__(environ, start_response)

    def _lean_response(self, chain, environ):
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        # A copy: Django's request rewrites PATH_INFO in the environ it is given (decoded), and a
        # declined request goes on to the full path with the environ as the server sent it.
        request = self.request_class(dict(environ))
        try:
            return chain(request)
        except (self._declined, DisallowedHost):
            return None
        except Exception:  # the full path answers it, with its own error handling
            logger.exception("A lean route failed on %s; Django's full path answers it", request.path)
            return None

    def _send(self, response, start_response):
        response._handler_class = self.__class__
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response
