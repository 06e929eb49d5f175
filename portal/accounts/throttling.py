"""API throttles per token and per signed-in user (429 with Retry-After), rates from settings."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_SettingsRateThrottle):
    """Requests made with one personal token."""

    scope = "token"

    def get_cache_key(self, request, view):
        from portal.models import PersonalToken

        if not isinstance(request.auth, PersonalToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class UserRateThrottle(_SettingsRateThrottle):
    """Requests made by one person, with a session or any of their tokens. Anonymous calls are not
    counted (they are refused with 401, and webhook receivers prove themselves by signature)."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
