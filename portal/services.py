"""State changes of the core: API tokens, the audit log, worker pings."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from portal.models import AuditEvent, PersonalToken, WorkerPing


class ServiceError(Exception):
    """A business rule refused the action; the message is safe to show."""


class PermissionDenied(ServiceError):
    pass


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: PersonalToken
    key: str  # shown to the user once, never stored


def token_create(*, user, name: str) -> NewToken:
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, so you can tell it apart later.")
    key = PersonalToken.generate_key()
    token = PersonalToken.objects.create(user=user, name=name[:100], prefix=key[:12], key_hash=_hash_key(key))
    audit_record(actor=user, action="token.create", obj=token, changes={"name": token.name})
    return NewToken(token=token, key=key)


def token_revoke(*, user, token_id: int) -> PersonalToken:
    with transaction.atomic():
        token = PersonalToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            raise ServiceError("No such token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=user, action="token.revoke", obj=token)
    return token


def token_authenticate(*, key: str) -> PersonalToken | None:
    digest = _hash_key(key)
    token = PersonalToken.objects.select_related("user").filter(key_hash=digest).first()
    # The lookup is by hash; compare again in constant time for good measure.
    if token is None or not hmac.compare_digest(token.key_hash, digest):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def audit_record(
    *, actor, action: str, obj=None, changes: dict | None = None, ip_address: str | None = None
) -> AuditEvent:
    """Write one audit event. Call it inside the transaction of the change."""
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor_user,
        actor_name=actor_user.get_username() if actor_user else "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        changes=changes or {},
        ip_address=ip_address,
    )


def worker_ping_send() -> WorkerPing:
    from portal.tasks import answer_ping

    ping = WorkerPing.objects.create()
    transaction.on_commit(lambda: answer_ping.delay(ping.pk))
    return ping


def worker_ping_answer(*, ping_id: int, hostname: str) -> bool:
    updated = WorkerPing.objects.filter(pk=ping_id, answered_at__isnull=True).update(
        answered_at=timezone.now(), answered_by=hostname[:200]
    )
    return bool(updated)


def role_groups_ensure() -> None:
    """Create the role groups if missing (migration 0002 creates them; a test flush removes them)."""
    from django.contrib.auth.models import Group

    from portal.roles import ALL_ROLES

    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
