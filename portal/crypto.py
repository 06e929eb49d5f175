"""Secrets kept encrypted at rest (Git-host tokens and the like), as the pipelines' webhook secrets are.

Fernet (AES-128-CBC with HMAC-SHA256) under a key derived from ``PORTAL_ENCRYPTION_KEY``
(``SECRET_KEY`` by default) and a purpose, so a token encrypted for one purpose cannot
be decrypted as another. Changing the key makes stored values unreadable: ``decrypt``
then answers None and callers ask for the secret again. Nothing here logs a value.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet(purpose: str) -> Fernet:
    key = getattr(settings, "PORTAL_ENCRYPTION_KEY", "") or settings.SECRET_KEY
    digest = hashlib.sha256(f"bridge-portal:{purpose}:".encode() + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str, *, purpose: str) -> str:
    """The encrypted form of ``value`` (text, safe to store)."""
    return _fernet(purpose).encrypt(value.encode()).decode()


def decrypt(token: str, *, purpose: str) -> str | None:
    """The value, or None if it cannot be read (another key, another purpose, or damaged)."""
    if not token:
        return None
    try:
        return _fernet(purpose).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
