from django.utils.translation import gettext_lazy as _
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication

from portal import services
from portal.accounts.network import client_ip
from portal.permissions import token_allows


class PersonalTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``) with a personal token."""

    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        key = self.key(request)
        if key is None:
            return None
        token, _ = services.token_with_user(key)
        return self.accept(request, token)

    def key(self, request) -> str | None:
        """The token in the Authorization header; None when the header names another scheme."""
        # As DRF's get_authorization_header, from the environ rather than request.headers, which
        # would first copy every header of the request.
        header = request.META.get("HTTP_AUTHORIZATION", b"")
        if isinstance(header, str):
            header = header.encode(HTTP_HEADER_ENCODING)
        parts = header.split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header: expected 'Bearer <token>'."))
        try:
            return parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None

    def accept(self, request, token) -> tuple:
        """(user, token) for ``token`` as ``services.token_with_user`` found it; refuses a token that is
        not live (or was not found), or whose scope does not allow the request's method."""
        token = services.token_accept(token, ip_address=client_ip(request._request))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        # Checked here rather than in each view's permissions, so that no view can forget it.
        if not token_allows(token, request.method):
            raise exceptions.PermissionDenied(
                _("This token has the read scope only: it cannot change anything. Create a token with the write scope.")
            )
        return (token.user, token)

    def authenticate_header(self, request):
        return "Bearer"


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
except ImportError:  # pragma: no cover
    OpenApiAuthenticationExtension = None

if OpenApiAuthenticationExtension is not None:

    class PersonalTokenScheme(OpenApiAuthenticationExtension):
        target_class = "portal.authentication.PersonalTokenAuthentication"
        name = "personalToken"

        def get_security_definition(self, auto_schema):
            return {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token from your profile page: `Authorization: Bearer brg_…`.",
            }
