"""API throttles per token and per signed-in user (429 with Retry-After), rates from settings.

The window is DRF's sliding window: a request is allowed while fewer than the rate's number of
requests were made in the last period (a time at or before the period's start has left it).
Where the default cache is Django's local-memory cache, which counts per process, the times are
kept in this process's memory (``ProcessWindows``). Any other cache (Redis with ``CACHE_URL``)
is shared by every web process and keeps them there."""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from portal.models import PersonalToken

_LOCAL_MEMORY_CACHE = "django.core.cache.backends.locmem.LocMemCache"


class _Window:
    __slots__ = ("times", "duration")

    def __init__(self, duration: float) -> None:
        self.times: deque[float] = deque()
        self.duration = duration


class ProcessWindows:
    """Each key's request times within its period, oldest first, in this process.

    The same counts as the local-memory cache kept, without its lock, pickling and a copy of the
    whole window on every call: at 1,700 lookups a second the window held 1,700 times, copied five
    times per throttle. Here a call removes the times that left the window and appends one.
    Keys are kept in the order they were last used; a new key first drops the least recently used
    ones whose period has passed, and beyond ``max_keys`` the least recently used (its count
    starts again, as when the local-memory cache culled it)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float, duration: float, limit: int) -> tuple[bool, int, float | None]:
        """Counts a request at ``now`` unless ``limit`` requests are already in the window.
        Returns whether it was allowed, and the window's count and oldest time before it."""
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                self._drop_passed(now)
                window = self._windows[key] = _Window(duration)
            else:
                self._windows.move_to_end(key)
                window.duration = duration
            times = window.times
            start = now - duration
            while times and times[0] <= start:
                times.popleft()
            count, oldest = len(times), (times[0] if times else None)
            if count >= limit:
                return False, count, oldest
            times.append(now)
            return True, count, oldest

    def _drop_passed(self, now: float) -> None:
        windows = self._windows
        while windows:
            window = windows[next(iter(windows))]
            if window.times and window.times[-1] > now - window.duration:
                break
            windows.popitem(last=False)
        while len(windows) >= self.max_keys:
            windows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._windows)

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


process_windows = ProcessWindows()


def forget_counts() -> None:
    """Starts every count in this process afresh (the shared cache's counts are the cache's)."""
    process_windows.clear()


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        if settings.CACHES["default"]["BACKEND"] == _LOCAL_MEMORY_CACHE:
            allowed, count, oldest = process_windows.hit(self.key, self.now, self.duration, self.num_requests)
            self.history = (count, oldest)
        else:
            allowed, self.history = self._hit_shared_cache()
        return allowed or self.throttle_failure()

    def _hit_shared_cache(self) -> tuple[bool, tuple[int, float | None]]:
        """The times as packed doubles, oldest first. DRF stores them as a list of floats, which the
        cache pickles and unpickles whole on every request; its history is read all the same."""
        stored = self.cache.get(self.key)
        times = array("d")
        if isinstance(stored, bytes):
            times.frombytes(stored)
        elif stored:  # written by DRF's own throttle: a list, newest first
            times.extend(sorted(stored))
        del times[: bisect_right(times, self.now - self.duration)]
        history = (len(times), times[0] if times else None)
        if len(times) >= self.num_requests:
            return False, history
        times.append(self.now)
        self.cache.set(self.key, times.tobytes(), self.duration)
        return True, history

    def wait(self):
        """DRF's advice, from the oldest time in the window."""
        count, oldest = self.history
        remaining = self.duration - (self.now - oldest) if oldest is not None else self.duration
        available = self.num_requests - count + 1
        if available <= 0:
            return None
        return remaining / float(available)


class TokenRateThrottle(_SettingsRateThrottle):
    """Requests made with one personal token."""

    scope = "token"

    def get_cache_key(self, request, view):
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
