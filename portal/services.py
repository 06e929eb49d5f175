"""State changes of the core: API tokens, the audit log, worker pings."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from portal.db import Beside, columns, fetch_row, instances, statement
from portal.models import AuditEvent, PersonalToken, WorkerPing

logger = logging.getLogger(__name__)


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


def token_scopes_clean(scopes) -> list[str]:
    """``["read"]`` or ``["read", "write"]``; "write" alone means both. Anything else is refused."""
    from portal.permissions import TOKEN_SCOPES

    if scopes is None:
        return ["read"]
    if isinstance(scopes, str) or not all(isinstance(s, str) for s in scopes):
        raise ServiceError('Scopes are a list of names: ["read"] or ["read", "write"].')
    unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
    if unknown:
        raise ServiceError(f"Unknown scope {unknown[0]!r}: a token's scopes are read and write.")
    if not scopes:
        raise ServiceError('Give the token at least the "read" scope.')
    return [scope for scope in TOKEN_SCOPES if scope in scopes or scope == "read"]


def token_expiry_clean(expires_in_days: int | None) -> timezone.datetime:
    from datetime import timedelta

    from django.conf import settings

    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ServiceError(f"A token lives from 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    return timezone.now() + timedelta(days=days)


def token_create(*, user, name: str, scopes=("read",), expires_in_days: int | None = None) -> NewToken:
    """A new token for ``user``. Only a signed-in session may call this (see ``can_manage_tokens``)."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, so you can tell it apart later.")
    scopes = token_scopes_clean(list(scopes))
    expires_at = token_expiry_clean(expires_in_days)
    key = PersonalToken.generate_key()
    token = PersonalToken.objects.create(
        user=user, name=name[:100], prefix=key[:12], key_hash=_hash_key(key), scopes=scopes, expires_at=expires_at
    )
    audit_record(
        actor=user,
        action="token.create",
        obj=token,
        changes={"name": token.name, "scopes": scopes, "expires_at": expires_at.isoformat()},
    )
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


def tokens_revoke_all(*, user, reason: str) -> int:
    """Revoke every live token of ``user`` (access was reduced); one audit event per token, with the reason."""
    from portal.request_context import current_user

    now = timezone.now()
    revoked = 0
    with transaction.atomic():
        for token in PersonalToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True):
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            audit_record(actor=current_user(), action="token.revoke", obj=token, changes={"reason": reason})
            revoked += 1
    return revoked


def token_with_user(key: str, *, beside: Beside | None = None, params=()) -> tuple[PersonalToken | None, tuple]:
    """The token with this key, its user loaded, in one written-out query (see ``portal.db``); with
    ``beside``, also the row that lookup found (all None when it found none). Only the key's hash is
    checked here; ``token_accept`` decides whether the token may be used."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()

    def write() -> str:
        quote = connection.ops.quote_name
        meta, user_meta = PersonalToken._meta, user_model._meta
        owner, key_hash = quote(meta.get_field("user").column), quote(meta.get_field("key_hash").column)
        also_select, also_join = (f", {beside.select}", f" {beside.join}") if beside else ("", "")
        return (
            f"SELECT {columns(PersonalToken, 't')}, {columns(user_model, 'u')}{also_select} "  # noqa: S608  # nosec B608: model names
            f"FROM {quote(meta.db_table)} t "
            f"JOIN {quote(user_meta.db_table)} u ON u.{quote(user_meta.pk.column)} = t.{owner}{also_join} "
            f"WHERE t.{key_hash} = %s"
        )

    sql = statement(("token-with-user", beside.key if beside else None), write)
    digest = _hash_key(key)
    row = fetch_row(sql, [*params, digest])
    if row is None:
        return None, ()
    token, user = instances(row, PersonalToken, user_model)
    # The lookup is by hash; compare again in constant time for good measure.
    if not hmac.compare_digest(token.key_hash, digest):
        return None, ()
    token.user = user
    width = len(PersonalToken._meta.concrete_fields) + len(user_model._meta.concrete_fields)
    return token, tuple(row[width:])


def token_accept(token: PersonalToken | None, *, ip_address: str | None = None) -> PersonalToken | None:
    """``token`` (as ``token_with_user`` found it) if it is live: not revoked, not expired, its owner
    active; else None. Records when and from where a live token was last used."""
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    stale = token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60
    if stale or token.last_used_ip != ip_address:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip_address)
    return token


def tokens_warn_expiring(*, within_days: int = 7) -> int:
    """Tell each owner, once, about their live tokens that expire within ``within_days``."""
    from datetime import timedelta

    from portal.models import NotificationEvent

    now = timezone.now()
    expiring = PersonalToken.objects.select_related("user").filter(
        revoked_at__isnull=True,
        expiry_warned_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=within_days),
    )
    warned = 0
    for token in expiring:
        with transaction.atomic():
            if not PersonalToken.objects.filter(pk=token.pk, expiry_warned_at__isnull=True).update(
                expiry_warned_at=now
            ):
                continue  # another sweep took it
            notify(
                users=[token.user],
                event=NotificationEvent.TOKEN_EXPIRING,
                title=f"Your API token “{token.name}” expires on {token.expires_at:%Y-%m-%d}",
                body="Scripts that use it will be refused after that. Create a new token on your profile page "
                "and replace it before then.",
                url="/accounts/profile/",
            )
            warned += 1
    return warned


def audit_record(
    *, actor, action: str, obj=None, changes: dict | None = None, ip_address: str | None = None
) -> AuditEvent:
    """Write one audit event. Call it inside the transaction of the change.

    Without an ``ip_address``, the IP of the request being served (if any) is recorded.
    """
    from portal.request_context import current_ip

    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    if ip_address is None:
        ip_address = current_ip()
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


# --- notifications -------------------------------------------------------------------


def _wants(user, event: str, channel: str) -> bool:
    from portal.models import NotificationPreference

    pref = NotificationPreference.objects.filter(user=user, event=event, channel=channel).first()
    return pref is None or pref.enabled


def notify(*, users, event: str, title: str, body: str = "", url: str = "", team_refs=()) -> list:
    """Tell users (and their teams' chats) about an event. Never blocks the caller:
    email and chat go out from the worker after the transaction commits, with retries."""
    from portal import chat
    from portal.models import Channel, Delivery, Notification, TeamChatWebhook
    from portal.tasks import deliver

    notifications = []
    deliveries = []
    for user in {u.pk: u for u in users if u is not None and u.is_active}.values():
        if _wants(user, event, Channel.IN_APP) or _wants(user, event, Channel.EMAIL):
            notification = Notification.objects.create(
                user=user, event=event, title=title[:200], body=body, url=url[:500]
            )
            notifications.append(notification)
            if user.email and _wants(user, event, Channel.EMAIL):
                deliveries.append(
                    Delivery.objects.create(
                        channel=Channel.EMAIL,
                        notification=notification,
                        payload={"to": user.email, "subject": title[:200], "body": _email_body(body, url)},
                    )
                )
            if not _wants(user, event, Channel.IN_APP):
                notification.read_at = timezone.now()
                notification.save(update_fields=["read_at"])
    for webhook in TeamChatWebhook.objects.filter(team_ref__in=list(team_refs), enabled=True):
        text = chat.message_text(title=title, body=body, url=url)
        deliveries.append(
            Delivery.objects.create(channel=Channel.CHAT, webhook=webhook, payload={"text": text, "event": event})
        )
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: enqueue_safely(deliver, pk))
    return notifications


def enqueue_safely(task, *args) -> bool:
    """Enqueue a task; if the broker is down, log it and let the periodic sweep retry.

    The action that caused the task has committed already and must not fail now.
    """
    try:
        task.delay(*args)
    except Exception:
        logger.warning("Could not enqueue %s%r; it will be picked up by the next sweep", task.name, args, exc_info=True)
        return False
    return True


def deliveries_resend_stale(*, older_than_seconds: int = 120) -> int:
    """Re-enqueue pending deliveries that no worker took (the broker was down, say)."""
    from datetime import timedelta

    from portal.models import Delivery
    from portal.tasks import deliver

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Delivery.objects.filter(status=Delivery.Status.PENDING, attempts=0, created_at__lt=cutoff)
    count = 0
    for pk in stale.values_list("pk", flat=True)[:1000]:
        count += int(enqueue_safely(deliver, pk))
    return count


def _email_body(body: str, url: str) -> str:
    from django.conf import settings

    link = f"\n\nOpen in Bridge: {settings.PORTAL_BASE_URL.rstrip('/')}{url}" if url else ""
    return f"{body}{link}\n"


def delivery_attempt(*, delivery_id: int) -> str:
    """Send one delivery once. Returns 'sent', 'skip' or raises a delivery error.

    Raises ``TransientDeliveryError`` when a retry may help (the task retries
    with backoff) and ``PermanentDeliveryError`` when it will not.
    """
    from django.core.mail import send_mail

    from portal import chat
    from portal.models import Channel, Delivery

    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",)).select_related("webhook").filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != Delivery.Status.PENDING:
            return "skip"
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    try:
        if delivery.channel == Channel.EMAIL:
            try:
                send_mail(delivery.payload["subject"], delivery.payload["body"], None, [delivery.payload["to"]])
            except OSError as exc:
                raise chat.TransientDeliveryError(f"mail server: {exc.__class__.__name__}") from exc
        else:
            chat.post_message(delivery.webhook.url, {"text": delivery.payload["text"]})
    except (chat.TransientDeliveryError, chat.PermanentDeliveryError) as exc:
        Delivery.objects.filter(pk=delivery.pk).update(last_error=str(exc)[:500])
        raise
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="")
    return "sent"


def delivery_give_up(*, delivery_id: int, reason: str) -> None:
    from portal.models import Delivery

    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, last_error=reason[:500]
    )


def notification_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications read, or all of them when no id is given."""
    from portal.models import Notification

    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


def notification_preferences_set(*, user, choices: dict[tuple[str, str], bool]) -> None:
    from portal.models import NotificationPreference

    with transaction.atomic():
        for (event, channel), enabled in choices.items():
            NotificationPreference.objects.update_or_create(
                user=user, event=event, channel=channel, defaults={"enabled": enabled}
            )
