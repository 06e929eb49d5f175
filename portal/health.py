"""Readiness checks: each returns None when its part works, else what is wrong."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from kombu import Connection

from portal.extensions import registry


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"database unreachable: {exc.__class__.__name__}"
    return None


def check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    try:
        with Connection(
            url,
            transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"broker unreachable: {exc.__class__.__name__}"
    return None


def readiness() -> dict[str, str | None]:
    results = {"database": check_database(), "broker": check_broker()}
    for name, check in registry.readiness_checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = f"check failed: {exc.__class__.__name__}"
    return results
