"""The lookup of an entity by reference, answered without Django's middleware and DRF's dispatch.

Every API client and portal component makes this call. Through the whole stack (13 middleware,
URL resolution, DRF's dispatch, negotiation and rendering) the web worker spent about twice the
CPU that this route spends on it. This route answers only the plain case: a GET with a personal
token, no query string, a JSON answer, on PostgreSQL (which writes the entity's JSON). It runs the
API view's own checks, in DRF's order: the token authentication class (which also refuses a token
whose scope does not allow the method), the view's permission classes, the entity, its object
permission, then the view's throttles. The entity comes in the token's own query (one round trip)
and is looked at only once those checks have allowed the request. Anything else (no token, a
refused token, a missing entity, a throttled token, a browser asking for HTML, SQLite) is
declined, and Django's full path answers it as before, errors included.
``portal.handler.PortalHandler`` runs the route inside the middleware that shapes every response
(metrics, HTTPS redirect, security headers).
"""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from catalog import selectors
from catalog.api.urls import BY_REF_PATH
from catalog.api.views import EntityViewSet
from portal import services
from portal.authentication import PersonalTokenAuthentication

# What the API view answers to OPTIONS and lists in Allow (DRF derives it from the view's methods).
_ALLOW = "GET, HEAD, OPTIONS"
# The Accept values for which DRF's negotiation picks the JSON renderer, the first one.
_JSON_ACCEPT = frozenset({"", "*/*", "application/json"})


class Declined(Exception):
    """Not the plain case: Django's full path answers the request."""


class EntityByRef:
    def __init__(self) -> None:
        self.prefix = "/" + reverse("catalog-entity-list").removeprefix(get_script_prefix()).removesuffix("entities/")
        self.enabled = selectors.renders_entity_json()

    def claims(self, environ) -> bool:
        """A cheap first look at the raw request, before Django builds anything."""
        return (
            environ.get("REQUEST_METHOD") == "GET"
            and not environ.get("QUERY_STRING")
            and environ.get("PATH_INFO", "").startswith(self.prefix)
            and "HTTP_AUTHORIZATION" in environ
            and environ.get("HTTP_ACCEPT", "").strip() in _JSON_ACCEPT
            and self.enabled
        )

    def __call__(self, request) -> HttpResponse:
        """The API view's answer for ``request``; raises ``Declined`` where the full path must answer."""
        match = BY_REF_PATH.match(request.path_info, len(self.prefix))
        if match is None:
            raise Declined
        api_request = Request(request)
        view = EntityViewSet(request=api_request, args=(), kwargs=match.groupdict(), action="by_ref", format_kwarg=None)
        authenticator = view.get_authenticators()[0]
        if not isinstance(authenticator, PersonalTokenAuthentication):
            raise Declined  # DRF asks the token first; were that changed, the full path would decide
        try:
            key = authenticator.key(api_request)
            if key is None:
                raise Declined
            # The entity is fetched in the token's own query, one round trip; it is looked at only
            # once the token, its scope and the view's permissions have allowed the request.
            token, entity_row = services.token_with_user(
                key,
                beside=selectors.ENTITY_JSON_BESIDE_TOKEN,
                params=selectors.entity_json_beside_params(**match.groupdict()),
            )
            api_request.user, api_request.auth = authenticator.accept(api_request, token)
        except APIException:
            raise Declined from None
        permissions = view.get_permissions()
        if not all(permission.has_permission(api_request, view) for permission in permissions):
            raise Declined
        entity = selectors.entity_json_from_row(entity_row)
        if entity is None:
            raise Declined
        if not all(permission.has_object_permission(api_request, view, entity) for permission in permissions):
            raise Declined
        # Every throttle is asked, as DRF asks them, and each that allows counts the request. When one
        # refuses, the full path asks them all again and answers 429 with Retry-After (a throttle
        # that allowed counts that request twice: a refused client waits a little longer).
        refusing = [throttle for throttle in view.get_throttles() if not throttle.allow_request(api_request, view)]
        if refusing:
            raise Declined
        renderer = view.get_renderers()[0]
        if renderer.media_type != "application/json":
            raise Declined  # DRF's negotiation would pick this renderer; the full path runs it
        body = renderer.render(orjson.Fragment(entity.api_json), renderer.media_type, {})
        response = HttpResponse(body, content_type=renderer.media_type)
        response["Allow"] = _ALLOW
        patch_vary_headers(response, ("Accept",))
        return response
