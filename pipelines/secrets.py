"""Webhook secrets: generated, encrypted at rest, compared in constant time.

GitHub signs with HMAC-SHA256, so Bridge needs the secret itself, not a hash:
it is kept encrypted with Fernet under a key derived from
``PIPELINES_ENCRYPTION_KEY``. Nothing here logs a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"bridge-pipelines-secrets:" + settings.PIPELINES_ENCRYPTION_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def generate() -> str:
    return "whs_" + secrets.token_urlsafe(32)


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github_signature(*, secret: str, body: bytes, header: str) -> bool:
    if not header.startswith("sha256="):
        return False
    return hmac.compare_digest(github_signature(secret, body).encode(), header.strip().encode())


def verify_token(*, secret: str, presented: str) -> bool:
    return hmac.compare_digest(secret.encode(), presented.encode())
