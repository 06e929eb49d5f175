"""API throttles per token and per signed-in user (429 with Retry-After), rates from settings."""

from array import array
from bisect import bisect_right

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    """DRF's sliding window (every request's time within the window is kept), with the times stored
    oldest first as packed doubles. DRF stores them as a list of floats, which the cache pickled and
    unpickled whole on every request: under load that was a sixth of a lookup's CPU."""

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        stored = self.cache.get(self.key)
        times = array("d")
        if isinstance(stored, bytes):
            times.frombytes(stored)
        elif stored:  # written by DRF's own throttle: a list, newest first
            times.extend(sorted(stored))
        # As DRF: a time at or before the window's start has left it.
        del times[: bisect_right(times, self.now - self.duration)]
        self.history = times
        if len(times) >= self.num_requests:
            return self.throttle_failure()
        times.append(self.now)
        self.cache.set(self.key, times.tobytes(), self.duration)
        return True

    def wait(self):
        """DRF's advice, from the oldest time in the window (the first here, the last in DRF's list)."""
        remaining = self.duration - (self.now - self.history[0]) if self.history else self.duration
        available = self.num_requests - len(self.history) + 1
        if available <= 0:
            return None
        return remaining / float(available)


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
