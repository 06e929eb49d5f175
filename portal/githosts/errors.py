"""What can go wrong when Bridge reads a Git host. Every message is safe to show (no token, no body)."""

from __future__ import annotations

from datetime import datetime


class GitHostError(Exception):
    """Base class. ``permanent``: trying again will not help until someone changes something."""

    permanent = False


class Refused(GitHostError):
    """Bridge refused to send the request: no integration, a forbidden address, scheme or redirect."""

    permanent = True


class NotConfigured(Refused):
    pass


class AddressRefused(Refused):
    pass


class RedirectRefused(Refused):
    pass


class TooLarge(GitHostError):
    permanent = True


class NotFound(GitHostError):
    """The host answered 404 (or 410): the repository, ref or file does not exist (or is hidden)."""

    permanent = True


class AccessDenied(GitHostError):
    """401 or a 403 that is not a rate limit: the token is missing, wrong or lacks a scope."""

    permanent = True


class RateLimited(GitHostError):
    """The host asked Bridge to wait longer than it may wait now; try again at ``retry_at``."""

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.retry_at = retry_at


class Unavailable(GitHostError):
    """A timeout, a connection error or a 5xx: transient."""
