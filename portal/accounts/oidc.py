"""The OpenID Connect relying party: an adapter over Authlib's Django client.

Authlib (not code of ours) does the protocol: discovery, the Authorization Code flow with PKCE
(S256), state and nonce kept in the session, the token request, and the ID token's checks:
signature against the provider's JWKS (fetched again when a token names a key it has not seen, so
key rotation works), issuer, audience, expiry and nonce. This module only reads the settings,
keeps one client per configuration, and turns Authlib's and the network's errors into
``SignInRefused`` with a reason a person can read and the audit log can keep.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse

if TYPE_CHECKING:
    from joserfc.errors import JoseError

# Authlib, joserfc and requests are imported where a sign-in uses them: a web worker that serves
# no sign-in with the provider (API clients, most page views) is spared their 10 MB.
logger = logging.getLogger(__name__)

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class SignInRefused(Exception):
    """The provider's answer was not accepted. ``reason`` is a short code for the audit log."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    timeout: int

    @property
    def key(self) -> tuple:
        return (self.issuer, self.client_id, self.client_secret, self.scopes, self.timeout)


def config() -> OidcConfig | None:
    """The configured provider, or None when sign-in with a provider is not set up."""
    issuer = getattr(settings, "OIDC_ISSUER_URL", "")
    if not issuer or not getattr(settings, "OIDC_CLIENT_ID", ""):
        return None
    return OidcConfig(
        issuer=issuer.rstrip("/"),
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        scopes=" ".join(settings.OIDC_SCOPES),
        timeout=settings.OIDC_TIMEOUT_SECONDS,
    )


def is_enabled() -> bool:
    return config() is not None


def client():
    """The Authlib client of the current configuration (its discovery document and keys are cached)."""
    conf = config()
    if conf is None:
        raise SignInRefused("not_configured", "Sign-in with an identity provider is not set up.")
    with _lock:
        existing = _clients.get(conf.key)
        if existing is None:
            from authlib.integrations.django_client import OAuth

            registry = OAuth()
            existing = registry.register(
                "bridge",
                client_id=conf.client_id,
                client_secret=conf.client_secret,
                server_metadata_url=f"{conf.issuer}/.well-known/openid-configuration",
                client_kwargs={"scope": conf.scopes, "code_challenge_method": "S256", "default_timeout": conf.timeout},
            )
            _clients.clear()  # only the current configuration's client is kept
            _clients[conf.key] = existing
    return existing


def _metadata(app) -> dict:
    import requests

    try:
        metadata = app.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        app.server_metadata = {}  # try the discovery again next time
        raise SignInRefused(
            "provider_unreachable",
            "The identity provider cannot be reached right now. Try again in a few minutes"
            + (", or sign in with your password." if settings.PASSWORD_LOGIN_ENABLED else "."),
        ) from exc
    if metadata.get("issuer", "").rstrip("/") != config().issuer:
        app.server_metadata = {}
        raise SignInRefused("issuer_mismatch", "The identity provider's discovery document names another issuer.")
    return metadata


def callback_url(request) -> str:
    return request.build_absolute_uri(reverse("oidc-callback"))


def authorization_redirect(request):
    """The redirect to the provider's sign-in page; state, nonce and PKCE verifier go in the session."""
    app = client()
    _metadata(app)
    return app.authorize_redirect(request, callback_url(request))


def finish(request) -> tuple[dict, dict]:
    """Check the provider's answer on the callback: (claims, token). Raises ``SignInRefused``."""
    import requests
    from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
    from joserfc.errors import JoseError

    app = client()
    metadata = _metadata(app)
    try:
        # Authlib checks the audience only through "azp" unless told: a token whose "aud" names
        # another client but whose "azp" names ours would pass. OIDC Core 3.1.3.7 wants "aud" checked.
        conf = config()
        token = app.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "values": [metadata["issuer"]]},
                "aud": {"essential": True, "values": [conf.client_id]},
            },
        )
    except MismatchingStateError as exc:
        raise SignInRefused(
            "state_mismatch", "This sign-in was not started here, or it was already used. Start again."
        ) from exc
    except OAuthError as exc:
        raise SignInRefused(
            f"provider_error:{exc.error}"[:60], f"The identity provider said: {exc.description or exc.error}."
        ) from exc
    except JoseError as exc:
        raise SignInRefused(_jose_reason(exc), "The identity provider's answer could not be verified.") from exc
    except requests.RequestException as exc:
        raise SignInRefused("provider_unreachable", "The identity provider stopped answering. Try again.") from exc
    except ValueError as exc:  # a token that is not a JWT at all, or a JWKS that is not JSON
        raise SignInRefused("invalid_token", "The identity provider's answer could not be verified.") from exc
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub"):
        raise SignInRefused("no_id_token", "The identity provider sent no ID token.")
    if metadata.get("userinfo_endpoint") and settings.OIDC_USE_USERINFO:
        claims = _with_userinfo(app, token, claims)
    return claims, token


def _with_userinfo(app, token: dict, claims: dict) -> dict:
    """Claims some providers send only at the userinfo endpoint (groups, email), for the same subject."""
    import requests
    from authlib.integrations.base_client.errors import OAuthError

    try:
        extra = dict(app.userinfo(token=token))
    except (requests.RequestException, OAuthError, ValueError) as exc:
        raise SignInRefused(
            "userinfo_failed", "The identity provider did not answer with your profile. Try again."
        ) from exc
    if extra.get("sub") != claims["sub"]:
        raise SignInRefused("userinfo_subject_mismatch", "The identity provider's profile is someone else's.")
    return {**extra, **claims} | {key: value for key, value in extra.items() if key not in claims}


def _jose_reason(exc: JoseError) -> str:
    """``bad_signature``, ``unknown_signing_key``, ``expired_token``, ``invalid_claim:aud``, ..."""
    error = getattr(exc, "error", "") or exc.__class__.__name__
    claim = getattr(exc, "claim", "")
    reason = {"invalid_key_id": "unknown_signing_key"}.get(error, error)
    return f"{reason}:{claim}"[:60] if claim else reason[:60]


def logout_url(request, id_token: str | None) -> str | None:
    """The provider's end-session address (RP-initiated logout), when it has one."""
    if not settings.OIDC_RP_LOGOUT:
        return None
    try:
        metadata = _metadata(client())
    except SignInRefused:
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    from authlib.common.urls import add_params_to_uri

    params = {"client_id": config().client_id, "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))}
    if id_token:
        params["id_token_hint"] = id_token
    return add_params_to_uri(endpoint, params)
