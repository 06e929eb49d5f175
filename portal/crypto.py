"""Encryption at rest for the secrets Bridge must be able to read back.

Webhook secrets (pipelines) and secret template parameters (provisioning) are
kept as Fernet tokens under a key derived from ``PORTAL_ENCRYPTION_KEY`` and a
purpose, so a token made for one purpose never decrypts as another. Nothing
here logs a value.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet(purpose: str, key: str | None) -> Fernet:
    material = key if key is not None else settings.PORTAL_ENCRYPTION_KEY
    digest = hashlib.sha256(f"bridge-{purpose}-secrets:".encode() + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str, *, purpose: str, key: str | None = None) -> str:
    """A Fernet token of ``value`` for ``purpose`` (e.g. ``"pipelines"``, ``"provisioning"``)."""
    return _fernet(purpose, key).encrypt(value.encode()).decode()


def decrypt(token: str, *, purpose: str, key: str | None = None) -> str | None:
    """The value, or None when the token is empty or not readable with the current key."""
    if not token:
        return None
    try:
        return _fernet(purpose, key).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
