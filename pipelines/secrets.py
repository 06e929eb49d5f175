"""Webhook secrets: generated, encrypted at rest, compared in constant time.

GitHub signs with HMAC-SHA256, so Bridge needs the secret itself, not a hash:
it is kept encrypted (``portal.crypto``) under a key derived from
``PIPELINES_ENCRYPTION_KEY``. Nothing here logs a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

from portal import crypto


def generate() -> str:
    return "whs_" + secrets.token_urlsafe(32)


def encrypt(secret: str) -> str:
    return crypto.encrypt(secret, purpose="pipelines", key=settings.PIPELINES_ENCRYPTION_KEY)


def decrypt(token: str) -> str | None:
    return crypto.decrypt(token, purpose="pipelines", key=settings.PIPELINES_ENCRYPTION_KEY)


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github_signature(*, secret: str, body: bytes, header: str) -> bool:
    if not header.startswith("sha256="):
        return False
    return hmac.compare_digest(github_signature(secret, body).encode(), header.strip().encode())


def verify_token(*, secret: str, presented: str) -> bool:
    return hmac.compare_digest(secret.encode(), presented.encode())
