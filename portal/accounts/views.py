"""Sign-in and sign-out: the password form, the identity provider's button, its callback."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core import signing
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.accounts import oidc, services
from portal.accounts.forms import SignInForm

logger = logging.getLogger(__name__)

DEVICE_COOKIE = "bridge_device"
DEVICE_SALT = "bridge.accounts.device"
DEVICE_MAX_AGE = 180 * 24 * 3600
NEXT_KEY = "_bridge_oidc_next"
ID_TOKEN_KEY = "_bridge_oidc_id_token"  # noqa: S105  # nosec B105: a session key name


def _remembered(request) -> set[str]:
    """The usernames this browser signed in as with a password (a signed cookie), lower case."""
    try:
        value = signing.get_cookie_signer(salt=DEVICE_SALT).unsign(
            request.COOKIES.get(DEVICE_COOKIE, ""), max_age=DEVICE_MAX_AGE
        )
    except signing.BadSignature:
        return set()
    return {name for name in value.split("\n") if name}


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            oidc_enabled=oidc.is_enabled(),
            oidc_button_label=settings.OIDC_BUTTON_LABEL,
            password_enabled=settings.PASSWORD_LOGIN_ENABLED,
            break_glass=bool(settings.BREAK_GLASS_USERNAME),
        )
        return context

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        known = username.lower() in _remembered(request)
        wait = services.password_attempt_delay(username=username, known_device=known)
        if wait:
            services.sign_in_refused(reason="username_delay", request=request, username=username)
            response = self.render_to_response(
                {**self.get_context_data(form=self.get_form()), "delay_seconds": wait}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        remembered = sorted(_remembered(self.request) | {user.get_username().lower()})[-5:]
        response.set_cookie(
            DEVICE_COOKIE,
            signing.get_cookie_signer(salt=DEVICE_SALT).sign("\n".join(remembered)),
            max_age=DEVICE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


def _safe_next(request, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


def _refuse(request, exc: oidc.SignInRefused):
    services.sign_in_refused(reason=exc.reason, request=request)
    logger.info("Sign-in with the identity provider refused: %s", exc.reason)
    messages.error(request, exc.message)
    return redirect("login")


@require_GET
@never_cache
def oidc_start(request):
    """Off to the identity provider's sign-in page."""
    if request.user.is_authenticated:
        return redirect(_safe_next(request, request.GET.get("next")))
    try:
        response = oidc.authorization_redirect(request)
    except oidc.SignInRefused as exc:
        return _refuse(request, exc)
    request.session[NEXT_KEY] = _safe_next(request, request.GET.get("next"))
    return response


@require_GET
@never_cache
def oidc_callback(request):
    """The provider sends the person back here with a code; Authlib checks everything before we sign in."""
    next_url = request.session.pop(NEXT_KEY, None) or settings.LOGIN_REDIRECT_URL
    try:
        claims, token = oidc.finish(request)
        user = services.oidc_user_for(issuer=oidc.config().issuer, claims=claims)
    except oidc.SignInRefused as exc:
        return _refuse(request, exc)
    request._bridge_sign_in_method = "oidc"
    login(request, user, backend="portal.backends.RoleAwareModelBackend")
    request.session[ID_TOKEN_KEY] = token.get("id_token", "")
    return redirect(_safe_next(request, next_url))


@require_POST
def sign_out(request):
    """End the Bridge session, then the provider's too (RP-initiated logout) when it offers one."""
    id_token = request.session.get(ID_TOKEN_KEY)
    provider_logout = oidc.logout_url(request, id_token) if id_token and oidc.is_enabled() else None
    logout(request)
    if provider_logout:
        return redirect(provider_logout)
    return redirect(settings.LOGOUT_REDIRECT_URL)
