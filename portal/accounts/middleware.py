import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout

from portal.accounts.signals import SEEN_AT, SIGNED_IN_AT

# How stale the "last seen" stamp may get before it is written again: one session write a minute.
SEEN_RESOLUTION_SECONDS = 60


class SessionLimitsMiddleware:
    """Ends a session idle for ``SESSION_IDLE_SECONDS`` or older than ``SESSION_ABSOLUTE_SECONDS``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            self._check(request)
        return self.get_response(request)

    def _check(self, request) -> None:
        from portal.services import audit_record

        now = int(time.time())
        session = request.session
        signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
        if signed_in is None or seen is None:  # a session from before these limits: they start now
            session[SIGNED_IN_AT], session[SEEN_AT] = signed_in or now, now
            return
        reason = None
        if now - signed_in > settings.SESSION_ABSOLUTE_SECONDS:
            reason = "absolute"
        elif now - seen > settings.SESSION_IDLE_SECONDS:
            reason = "idle"
        if reason:
            user = request.user
            logout(request)
            audit_record(actor=user, action="auth.session_expired", obj=user, changes={"reason": reason})
            messages.info(
                request,
                "Your session ended after a while without activity. Sign in again."
                if reason == "idle"
                else "Your session reached its maximum age. Sign in again.",
            )
        elif now - seen >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_AT] = now
