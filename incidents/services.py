"""Every change in the incidents app: receivers, Alertmanager notifications, the response.

Alertmanager re-sends a notification on ``repeat_interval`` and whenever a send failed, and its
notifications can arrive out of order (a resolved one before the firing one). Each alert is one row
per firing episode (fingerprint + ``startsAt``) and each change is applied at most once, so the same
notification twice, or in another order, leaves the same rows.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Entity
from incidents import lifecycle, mapping, permissions
from incidents.models import (
    Alert,
    AlertGroup,
    AlertNotification,
    AlertReceiver,
    AlertStatus,
    Incident,
    Response,
    TimelineEntry,
)
from portal import crypto
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)

CRYPTO_PURPOSE = "incidents"
TOKEN_PREFIX_LENGTH = 12
MAX_ALERTS = 5000
# Rows per INSERT / UPDATE when a notification's alerts and timeline are written in bulk.
BULK_BATCH = 500
# Alertmanager writes this for "no end" (Go's zero time).
ZERO_TIME_YEAR = 1
# Tries at applying a stored notification before it is marked failed (see notification_apply).
APPLY_ATTEMPTS = 3


# --- receivers --------------------------------------------------------------------------------


def receiver_create(*, name: str, auth: str = AlertReceiver.Auth.BEARER, actor=None) -> tuple[AlertReceiver, str]:
    """Make a receiver and return it with its token; the token is shown once and kept encrypted."""
    from django.utils.text import slugify

    clean = slugify(name or "")[:60]
    if not clean or clean != (name or "").strip():
        raise ServiceError("A receiver name is lower-case letters, digits and hyphens, e.g. prod-alertmanager.")
    if auth not in AlertReceiver.Auth.values:
        raise ServiceError("Choose bearer or basic authentication.")
    if AlertReceiver.objects.filter(name=clean).exists():
        raise ServiceError(f"A receiver named “{clean}” exists already; rotate its token instead.")
    token = f"bam_{secrets.token_urlsafe(32)}"
    receiver = AlertReceiver.objects.create(
        name=clean,
        auth=auth,
        token_prefix=token[:TOKEN_PREFIX_LENGTH],
        token_encrypted=crypto.encrypt(token, purpose=CRYPTO_PURPOSE),
    )
    audit_record(actor=actor, action="incidents.receiver.create", obj=receiver, changes={"auth": auth})
    return receiver, token


def receiver_rotate(*, receiver: AlertReceiver, actor=None) -> str:
    token = f"bam_{secrets.token_urlsafe(32)}"
    receiver.token_prefix = token[:TOKEN_PREFIX_LENGTH]
    receiver.token_encrypted = crypto.encrypt(token, purpose=CRYPTO_PURPOSE)
    receiver.save(update_fields=["token_prefix", "token_encrypted"])
    audit_record(actor=actor, action="incidents.receiver.rotate", obj=receiver, changes={})
    return token


def receiver_authenticate(authorization: str) -> AlertReceiver | None:
    """The enabled receiver an ``Authorization`` header proves, or None. Compared in constant time;
    a bearer token works only for a bearer receiver, basic auth only for a basic one."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer":
        candidate = AlertReceiver.objects.filter(
            token_prefix=credentials[:TOKEN_PREFIX_LENGTH], auth=AlertReceiver.Auth.BEARER, enabled=True
        ).first()
        given = credentials
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        username, _, given = decoded.partition(":")
        candidate = AlertReceiver.objects.filter(name=username, auth=AlertReceiver.Auth.BASIC, enabled=True).first()
    else:
        return None
    expected = _receiver_token(candidate.token_encrypted, settings.PORTAL_ENCRYPTION_KEY) if candidate else None
    # Compare even when there is no candidate, so the answer takes as long either way.
    if not hmac.compare_digest((expected or "\0" * 47).encode(), given.encode()) or candidate is None:
        return None
    if candidate.last_used_at is None or timezone.now() - candidate.last_used_at > timedelta(minutes=1):
        AlertReceiver.objects.filter(pk=candidate.pk).update(last_used_at=timezone.now())
    return candidate


@functools.lru_cache(maxsize=64)
def _receiver_token(token_encrypted: str, key: str) -> str | None:
    """A receiver's token, decrypted once per process and ciphertext: Alertmanager sends every
    notification with it. A rotated token is new ciphertext, so the old one is never looked up again;
    the key is part of the cache key, so a changed PORTAL_ENCRYPTION_KEY decrypts afresh."""
    return crypto.decrypt(token_encrypted, purpose=CRYPTO_PURPOSE, key=key)


# --- the Alertmanager webhook (payload version 4) ----------------------------------------------


@dataclass(frozen=True)
class AlertIn:
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str


@dataclass(frozen=True)
class Notification:
    group_key: str
    status: str
    receiver: str
    alerts: list[AlertIn] = field(default_factory=list)


def _string_map(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ServiceError(f"{where} must be an object of strings.")
    if any("\x00" in k or "\x00" in v for k, v in value.items()):
        raise ServiceError(f"{where} holds a NUL character.")
    return value


def _time(value, where: str, *, required: bool) -> datetime | None:
    if value in (None, "") and not required:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ServiceError(f"{where} must be an RFC 3339 time.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.utc)
    if parsed.year <= ZERO_TIME_YEAR:
        return None
    return parsed


def parse_notification(payload, *, now=None) -> Notification:
    """Validate an Alertmanager webhook body (version 4); each refusal says what is wrong. An alert
    without a start (Alertmanager's zero time) starts ``now``, the moment the notification came."""
    if not isinstance(payload, dict):
        raise ServiceError("The body must be a JSON object (Alertmanager's webhook payload).")
    if str(payload.get("version")) != "4":
        raise ServiceError(f"Unsupported payload version {payload.get('version')!r}: Bridge reads version 4.")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ServiceError("alerts must be a list.")
    if len(alerts) > MAX_ALERTS:
        raise ServiceError(f"More than {MAX_ALERTS} alerts in one notification; set max_alerts in Alertmanager.")
    parsed = []
    for i, raw in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(raw, dict):
            raise ServiceError(f"{where} must be an object.")
        status = raw.get("status")
        if status not in AlertStatus.values:
            raise ServiceError(f"{where}.status must be firing or resolved.")
        fingerprint = raw.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > 64 or "\x00" in fingerprint:
            raise ServiceError(f"{where}.fingerprint is missing.")
        generator_url = raw.get("generatorURL") or ""
        if not isinstance(generator_url, str) or "\x00" in generator_url:
            raise ServiceError(f"{where}.generatorURL must be a string.")
        parsed.append(
            AlertIn(
                status=status,
                labels=_string_map(raw.get("labels"), f"{where}.labels"),
                annotations=_string_map(raw.get("annotations"), f"{where}.annotations"),
                starts_at=_time(raw.get("startsAt"), f"{where}.startsAt", required=True)
                or (now or timezone.now()).replace(microsecond=0),
                ends_at=_time(raw.get("endsAt"), f"{where}.endsAt", required=False),
                generator_url=generator_url if generator_url.startswith(("http://", "https://")) else "",
                fingerprint=fingerprint,
            )
        )
    group_key = payload.get("groupKey") or ""
    if not isinstance(group_key, str) or "\x00" in group_key:
        raise ServiceError("groupKey must be a string without NUL characters.")
    return Notification(
        group_key=group_key, status=str(payload.get("status") or ""), receiver=str(payload.get("receiver") or ""),
        alerts=parsed,
    )  # fmt: skip


@dataclass
class ReceiveResult:
    alerts: int = 0
    unchanged: bool = False
    notification: int | None = None  # the stored notification a worker applies; None when there is nothing to do


@dataclass
class ApplyResult:
    changed: int = 0
    incidents: set[int] = field(default_factory=set)
    unrouted: int = 0


def _digest(notification: Notification) -> str:
    states = sorted(
        (a.fingerprint, a.status, a.starts_at.isoformat(), a.ends_at.isoformat() if a.ends_at else "")
        for a in notification.alerts
    )
    return hashlib.sha256(json.dumps(states).encode()).hexdigest()


def _group_key_hash(notification: Notification) -> str:
    return hashlib.sha256(notification.group_key.encode()).hexdigest() if notification.group_key else ""


def alertmanager_receive(*, receiver: AlertReceiver, payload, body: str) -> ReceiveResult:
    """Accept one Alertmanager notification: validate it, store it, and queue it for a worker.

    The answer does not wait for incidents to open: a burst of notifications is answered at the pace
    the rows are written, and ``notification_apply`` applies each in a worker within about a second.
    By ``groupKey`` a notification identical to the group's last one is answered at once and not
    stored (Alertmanager re-sends on ``repeat_interval`` and on failure); one without alerts neither."""
    notification = parse_notification(payload)
    result = ReceiveResult(alerts=len(notification.alerts))
    digest = _digest(notification)
    now = timezone.now()
    key_hash = _group_key_hash(notification)
    known = False
    if key_hash:
        group = AlertGroup.objects.filter(receiver=receiver, group_key_hash=key_hash).only("pk", "digest").first()
        known = group is not None
        if known and group.digest == digest:
            AlertGroup.objects.filter(pk=group.pk).update(
                notifications=F("notifications") + 1, unchanged=F("unchanged") + 1, last_received_at=now
            )
            result.unchanged = True
            return result
    if not notification.alerts:
        return result
    for attempt in range(3):
        try:
            with transaction.atomic():
                stored = AlertNotification.objects.create(
                    receiver=receiver, body=body, alerts=len(notification.alerts), received_at=now
                )
                if key_hash:
                    _group_received(receiver, notification.group_key, key_hash, digest, now, known=known or attempt > 0)
                transaction.on_commit(lambda pk=stored.pk: _queue_apply(pk))
            break
        except IntegrityError:
            # Another notification of the group was stored first, at the same moment: update the group.
            if attempt == 2:
                raise
    result.notification = stored.pk
    return result


def _queue_apply(notification_pk: int) -> None:
    """After commit. If the broker is down the notification stays pending and the sweeper queues it."""
    from incidents.tasks import apply_notification
    from portal.services import enqueue_safely

    enqueue_safely(apply_notification, notification_pk)


def notification_apply(*, notification_pk: int) -> str:
    """Apply a stored notification; returns its status. Safe to call twice and from several workers at
    once: the row is locked while it is applied (others skip it) and marked applied in the same
    transaction as its effects. A failure leaves it pending for the sweeper, up to
    ``APPLY_ATTEMPTS`` times; then it is marked failed, and its group forgets it so that Alertmanager's
    next re-send of the same alerts is applied instead of answered as unchanged."""
    try:
        with transaction.atomic():
            stored = (
                AlertNotification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("receiver")
                .filter(pk=notification_pk, status=AlertNotification.Status.PENDING)
                .first()
            )
            if stored is None:  # applied, failed, gone, or being applied by another worker right now
                now_status = AlertNotification.objects.filter(pk=notification_pk).values_list("status", flat=True)
                return now_status.first() or "missing"
            notification = parse_notification(json.loads(stored.body), now=stored.received_at)
            applied = _notification_apply(stored.receiver, notification, now=stored.received_at)
            AlertNotification.objects.filter(pk=stored.pk).update(
                status=AlertNotification.Status.APPLIED,
                applied_at=timezone.now(),
                attempts=F("attempts") + 1,
                error="",
                changed=applied.changed,
                unrouted=applied.unrouted,
                incidents=sorted(applied.incidents),
            )
        return AlertNotification.Status.APPLIED
    except Exception as exc:  # noqa: BLE001 (kept and retried, never lost: see the docstring)
        logger.exception("Applying Alertmanager notification %s failed", notification_pk)
        error = f"{type(exc).__name__}: {exc}"[:1000]
    row = AlertNotification.objects.filter(pk=notification_pk, status=AlertNotification.Status.PENDING).first()
    if row is None:
        return "missing"
    attempts = row.attempts + 1
    final = attempts >= APPLY_ATTEMPTS
    status = AlertNotification.Status.FAILED if final else AlertNotification.Status.PENDING
    AlertNotification.objects.filter(pk=row.pk, status=AlertNotification.Status.PENDING).update(
        attempts=attempts, error=error, status=status
    )
    if final:
        try:
            notification = parse_notification(json.loads(row.body), now=row.received_at)
        except (ValueError, ServiceError):
            return status
        if notification.group_key:
            AlertGroup.objects.filter(
                receiver_id=row.receiver_id, group_key_hash=_group_key_hash(notification), digest=_digest(notification)
            ).update(digest="")
    return status


def notifications_requeue_pending(*, older_than_seconds: int = 30) -> int:
    """Queue again the notifications still pending after a while (the broker was down when they came,
    a worker died, or applying failed and may succeed now). Returns how many were queued."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = list(
        AlertNotification.objects.filter(status=AlertNotification.Status.PENDING, received_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in pending:
        _queue_apply(pk)
    return len(pending)


def notifications_prune(*, older_than_days: int) -> int:
    """Delete applied notifications older than the retention; their alerts and incidents stay."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = AlertNotification.objects.filter(
        status=AlertNotification.Status.APPLIED, received_at__lt=cutoff
    ).delete()
    return deleted


def _notification_apply(receiver: AlertReceiver, notification: Notification, *, now) -> ApplyResult:
    """The alerts of one notification applied in one transaction. The number of queries does not grow
    with the alerts: they are read, mapped (once per combination of labels), inserted and updated in bulk."""
    result = ApplyResult()
    # Alerts of one group mostly share their service and runbook hints: map each combination once,
    # before the services are locked, so that their locks are held as briefly as possible.
    mapped: dict[tuple, tuple] = {}
    for alert in notification.alerts:
        key = _mapping_key(alert)
        if key not in mapped:
            entity, _label = mapping.entity_for(alert.labels)
            runbook = mapping.runbook_for(labels=alert.labels, annotations=alert.annotations, entity=entity)
            mapped[key] = (entity, runbook, mapping.severity_for(alert.labels))
    entity_ids = sorted({m[0].pk for m in mapped.values() if m[0] is not None})
    for attempt in range(3):
        try:
            with transaction.atomic():
                # The services' rows are locked in one order, so two notifications about the same
                # services queue instead of deadlocking.
                list(Entity.objects.select_for_update().filter(pk__in=entity_ids).order_by("pk").values_list("pk"))
                alerts = notification.alerts
                applied = _NotificationApply(receiver=receiver, now=now, alerts=alerts, entity_ids=entity_ids)
                for alert in alerts:
                    applied.apply(alert, mapped[_mapping_key(alert)])
                applied.save()
                result.changed, result.unrouted, result.incidents = applied.changed, applied.unrouted, applied.incidents
            break
        except IntegrityError:
            # Another notification created the same episode at the same moment: read again.
            if attempt == 2:
                raise
    return result


def _group_received(receiver: AlertReceiver, group_key: str, key_hash: str, digest: str, now, *, known: bool) -> None:
    """Remember the group's last notification. A group seen for the first time is inserted; when
    another notification inserted it meanwhile, the transaction is retried and updates it."""
    updated = known and AlertGroup.objects.filter(receiver=receiver, group_key_hash=key_hash).update(
        digest=digest, last_received_at=now, notifications=F("notifications") + 1
    )
    if not updated:
        AlertGroup.objects.create(
            receiver=receiver, group_key_hash=key_hash, group_key=group_key[:1000], digest=digest,
            last_received_at=now, notifications=1,
        )  # fmt: skip


def _mapping_key(alert: AlertIn) -> tuple:
    labels, annotations = alert.labels, alert.annotations
    return (
        tuple(labels.get(name, "") for name in settings.INCIDENTS_ENTITY_LABELS),
        labels.get("alertname", ""),
        labels.get("runbook", ""),
        labels.get("severity", ""),
        labels.get("priority", ""),
        annotations.get("runbook_url", ""),
        annotations.get("runbook", ""),
    )


class _NotificationApply:
    """The alerts of one notification, applied in their order inside its transaction.

    What the alerts need is read once (their stored episodes, locked; the services' open incidents;
    how many alerts of an incident still fire), kept up to date here as each alert is applied, and
    the new alerts, the resolved ones and the timeline are written in bulk by ``save()``. Incidents
    are opened, joined and resolved as each alert comes, so the order of the alerts still decides
    (a service's alert firing after its incident resolved in the same notification opens a new one)."""

    def __init__(self, *, receiver: AlertReceiver, now, alerts: list[AlertIn], entity_ids: list[int]):
        self.receiver, self.now = receiver, now
        self.changed = self.unrouted = 0
        self.incidents: set[int] = set()
        keys = {(a.fingerprint, a.starts_at) for a in alerts}
        self.rows: dict[tuple, Alert] = {
            (row.fingerprint, row.starts_at): row
            for row in Alert.objects.select_for_update()
            .filter(fingerprint__in={key[0] for key in keys})
            .only("pk", "fingerprint", "starts_at", "status", "ends_at", "name", "entity_id", "incident_id")
            .order_by("pk")
            if (row.fingerprint, row.starts_at) in keys
        }
        resolving = {
            row.incident_id
            for (fingerprint, starts_at), row in self.rows.items()
            if row.incident_id and row.status == AlertStatus.FIRING
        }
        self.by_pk: dict[int, Incident] = {}
        self.open: dict[int, list[Incident]] = {pk: [] for pk in entity_ids}
        if entity_ids or resolving:
            for incident in Incident.objects.select_related("entity", "response").filter(
                Q(entity_id__in=entity_ids, closed_at__isnull=True) | Q(pk__in=resolving)
            ):
                self.by_pk[incident.pk] = incident
                if incident.entity_id in self.open and incident.is_open:
                    self.open[incident.entity_id].append(incident)
        # Per incident: alerts firing and the latest end as stored before this notification, and
        # what this notification changed since.
        self.stored_firing: dict[int, int] = {}
        self.stored_last_end: dict[int, datetime | None] = {}
        self._load_counts(resolving)
        self.firing_delta: dict[int, int] = {}
        self.ends: dict[int, list[datetime]] = {}
        self.joined: dict[int, Incident] = {}  # the incident each service's firing alerts joined
        self.new_rows: list[Alert] = []
        self.resolved_rows: list[Alert] = []
        self.entries: list[TimelineEntry] = []

    def _load_counts(self, incident_ids) -> None:
        missing = [pk for pk in incident_ids if pk not in self.stored_firing]
        if not missing:
            return
        for pk in missing:
            self.stored_firing[pk], self.stored_last_end[pk] = 0, None
        for row in (
            Alert.objects.filter(incident_id__in=missing)
            .order_by()
            .values("incident_id")
            .annotate(firing=Count("pk", filter=Q(status=AlertStatus.FIRING)), last_end=Max("ends_at"))
        ):
            self.stored_firing[row["incident_id"]] = row["firing"]
            self.stored_last_end[row["incident_id"]] = row["last_end"]

    def _count(self, changed: bool, incident_id: int | None, unrouted: bool) -> None:
        self.changed += int(changed)
        self.unrouted += int(unrouted)
        if incident_id:
            self.incidents.add(incident_id)

    def _open_incident(self, entity_id: int) -> Incident | None:
        candidates = [i for i in self.open.get(entity_id, []) if i.is_open]
        return min(candidates, key=lambda i: (i.started_at, i.pk)) if candidates else None

    def _fired(self, incident_id: int, change: int) -> None:
        self.firing_delta[incident_id] = self.firing_delta.get(incident_id, 0) + change

    def apply(self, data: AlertIn, mapped: tuple) -> None:
        row = self.rows.get((data.fingerprint, data.starts_at))
        if row is not None:
            if row.status == AlertStatus.RESOLVED or data.status == AlertStatus.FIRING:
                # Resolved is final for an episode; a firing re-send changes nothing (and is not
                # counted: the answer is about what this notification changed).
                return
            row.status = AlertStatus.RESOLVED
            row.ends_at = data.ends_at or self.now
            row.updated_at = self.now
            if row.pk is not None:  # an alert made by this notification is inserted as it ends up
                self.resolved_rows.append(row)
            if row.incident_id:
                self.entries.append(
                    _entry(
                        row.incident_id, TimelineEntry.Kind.ALERT_RESOLVED, f"{row.name or 'Alert'} resolved",
                        row.ends_at, alert=row,
                    )
                )  # fmt: skip
                self._fired(row.incident_id, -1)
                self.ends.setdefault(row.incident_id, []).append(row.ends_at)
                self._after_alert_resolved(row.incident_id)
                self.joined.clear()  # it may have closed: look again for the next firing alert
            self._count(True, row.incident_id, row.entity_id is None)
            return

        entity, runbook, severity = mapped
        row = Alert(
            fingerprint=data.fingerprint,
            starts_at=data.starts_at,
            ends_at=data.ends_at if data.status == AlertStatus.RESOLVED else None,
            status=data.status,
            name=str(data.labels.get("alertname", ""))[:200],
            labels=data.labels,
            annotations=data.annotations,
            generator_url=data.generator_url[:2000],
            severity=severity,
            receiver=self.receiver,
            entity=entity,
            runbook=runbook,
            received_at=self.now,
            updated_at=self.now,
        )
        self.rows[(data.fingerprint, data.starts_at)] = row
        self.new_rows.append(row)
        if entity is None:
            logger.info("alert %s (%s) names no catalog entity: unrouted", row.name, row.fingerprint)
            self._count(True, None, True)
            return
        if data.status == AlertStatus.RESOLVED:
            # Resolved before we heard it fire (or Bridge was down): recorded, joined to an open
            # incident of the service if there is one, and never reopened by the late firing copy.
            incident = self._open_incident(entity.pk)
            if incident is not None:
                row.incident = incident
                self.ends.setdefault(incident.pk, []).append(row.ends_at)
                self.entries.append(
                    _entry(
                        incident.pk, TimelineEntry.Kind.ALERT_RESOLVED, f"{row.name or 'Alert'} resolved",
                        row.ends_at, alert=row,
                    )
                )  # fmt: skip
            self._count(True, incident.pk if incident else None, False)
            return
        incident = self._open_or_join(entity, row, runbook, severity)
        self._count(True, incident.pk, False)

    def _open_or_join(self, entity: Entity, alert: Alert, runbook, severity: str) -> Incident:
        # One incident per service: the caller holds the service's row lock, so concurrent alerts of
        # one service queue before their notifications read its open incidents.
        incident = self.joined.get(entity.pk)
        if incident is None:
            incident = self._open_incident(entity.pk)
            if incident is not None and _awaits_confirmation(incident):
                Response.objects.filter(incident=incident, awaiting_confirmation=True).update(
                    awaiting_confirmation=False
                )
                incident.response.awaiting_confirmation = False
        label = alert.name or "Alert"
        alert.incident = incident
        if incident is None:
            summary = f"{label}: {alert.summary}" if alert.summary else label
            incident = lifecycle.incident_open_for_alert(
                entity=entity, runbook=runbook, severity=severity, summary=summary, started_at=alert.starts_at
            )
            Response.objects.create(incident=incident, from_alert=True)
            alert.incident = incident
            self.by_pk[incident.pk] = incident
            self.open.setdefault(entity.pk, []).append(incident)
            self.stored_firing[incident.pk], self.stored_last_end[incident.pk] = 0, None
            self.entries.append(
                _entry(incident.pk, TimelineEntry.Kind.OPENED, f"Opened by alert {label}", alert.starts_at, alert=alert)
            )
            self.entries.extend(_notify_team(incident, entity, alert, self.now))
        else:
            lifecycle.incident_alert_started_earlier(incident=incident, started_at=alert.starts_at)
        self.joined[entity.pk] = incident
        self._fired(incident.pk, +1)
        self.entries.append(
            _entry(incident.pk, TimelineEntry.Kind.ALERT_FIRED, f"{label} fired", alert.starts_at, alert=alert)
        )
        return incident

    def _after_alert_resolved(self, incident_id: int) -> None:
        incident = self.by_pk.get(incident_id)
        if incident is None:
            incident = self.by_pk[incident_id] = Incident.objects.select_related("entity").get(pk=incident_id)
        self._load_counts([incident_id])
        firing = self.stored_firing[incident_id] + self.firing_delta.get(incident_id, 0)
        if not incident.is_open or firing > 0:
            return
        ends = [e for e in [self.stored_last_end[incident_id], *self.ends.get(incident_id, [])] if e is not None]
        last_end = max(ends, default=timezone.now())
        if mapping.auto_resolves(incident.entity):
            closed = lifecycle.incident_resolve_from_alerts(
                incident=incident, resolved_at=last_end, notes="All alerts resolved; resolved automatically."
            )
            incident.closed_at = closed.closed_at
            self.entries.append(
                _entry(incident.pk, TimelineEntry.Kind.RESOLVED, "All alerts resolved: incident resolved", last_end)
            )
        else:
            incident.response, _ = Response.objects.update_or_create(
                incident=incident, defaults={"awaiting_confirmation": True}
            )
            self.entries.append(
                _entry(
                    incident.pk, TimelineEntry.Kind.NOTE,
                    "All alerts resolved: waiting for the team to confirm and close the incident", last_end,
                )
            )  # fmt: skip

    def save(self) -> None:
        """The writes, in bulk: new alerts (with their incident), resolved alerts, the timeline in order."""
        if self.new_rows:
            Alert.objects.bulk_create(self.new_rows, batch_size=BULK_BATCH)
        if self.resolved_rows:
            Alert.objects.bulk_update(self.resolved_rows, ["status", "ends_at", "updated_at"], batch_size=BULK_BATCH)
        if self.entries:
            TimelineEntry.objects.bulk_create(self.entries, batch_size=BULK_BATCH)


def _awaits_confirmation(incident: Incident) -> bool:
    try:
        return incident.response.awaiting_confirmation
    except Response.DoesNotExist:  # a manual incident nobody has responded to yet
        return False


def _notify_team(incident: Incident, entity: Entity, alert: Alert, now) -> list[TimelineEntry]:
    """Tell the owning team once per incident, and at most once per service in
    ``INCIDENTS_NOTIFY_MIN_INTERVAL_SECONDS`` (a flapping alert opens incident after incident).
    Returns the timeline entries to add. Email and chat go out from the worker after commit."""
    from catalog.selectors import owner_team_members
    from portal.models import NotificationEvent
    from portal.services import notify

    since = now - timedelta(seconds=settings.INCIDENTS_NOTIFY_MIN_INTERVAL_SECONDS)
    if Response.objects.filter(incident__entity=entity, notified_at__gte=since).exists():
        return [
            _entry(
                incident.pk,
                TimelineEntry.Kind.NOTE,
                "Team not notified again: it was notified about this service minutes ago.",
                now,
            )
        ]
    Response.objects.filter(incident=incident).update(notified_at=now)
    name = entity.title or entity.name
    body = f"Alert {alert.name or 'alert'} fired on {name}."
    if alert.summary:
        body += f" {alert.summary}"
    if alert.runbook_id:
        body += f" Runbook: {alert.runbook.title}."
    notify(
        users=owner_team_members(entity),
        event=NotificationEvent.INCIDENT_STARTED,
        title=f"Incident on {name} ({incident.severity})",
        body=body,
        url=incident.get_absolute_url(),
        team_refs=[entity.owner_ref] if entity.owner_ref else [],
    )
    return [_entry(incident.pk, TimelineEntry.Kind.NOTIFIED, f"Notified {entity.owner_ref or 'the owners'}", now)]


def _entry(incident_id: int, kind: str, text: str, at, *, actor=None, alert=None) -> TimelineEntry:
    """A timeline entry, not saved yet."""
    return TimelineEntry(
        incident_id=incident_id, kind=kind, text=text[:1000], at=at or timezone.now(), actor=actor, alert=alert
    )


def _timeline(incident_id: int, kind: str, text: str, at, *, actor=None, alert=None) -> TimelineEntry:
    entry = _entry(incident_id, kind, text, at, actor=actor, alert=alert)
    entry.save()
    return entry


# --- the response: acknowledge, assign, note -------------------------------------------------


def _response_for(incident: Incident) -> Response:
    response, _ = Response.objects.get_or_create(incident=incident)
    return response


def incident_acknowledge(*, actor, incident: Incident) -> Response:
    """Say "I am on it": the owning team's members, Platform Admins and whoever started it."""
    if not permissions.can_respond(actor, incident):
        raise PermissionDenied("Only the service's team and Platform Admins can acknowledge this incident.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ServiceError("The incident is closed.")
        response = _response_for(locked)
        if response.acknowledged_at is not None:
            who = response.acknowledged_by.get_username() if response.acknowledged_by else "someone"
            raise ServiceError(f"Already acknowledged by {who}.")
        response.acknowledged_by, response.acknowledged_at = actor, timezone.now()
        if response.assignee_id is None:
            response.assignee = actor
        response.save()
        _timeline(
            locked.pk,
            TimelineEntry.Kind.ACKNOWLEDGED,
            f"Acknowledged by {actor.get_username()}",
            response.acknowledged_at,
            actor=actor,
        )
        audit_record(actor=actor, action="incidents.incident.acknowledge", obj=locked, changes={})
    return response


def incident_assign(*, actor, incident: Incident, assignee) -> Response:
    """Hand the incident to a person of the owning team (or a Platform Admin)."""
    if not permissions.can_respond(actor, incident):
        raise PermissionDenied("Only the service's team and Platform Admins can assign this incident.")
    if assignee is None or not permissions.can_respond(assignee, incident):
        raise ServiceError("Assign the incident to a member of the service's team (or a Platform Admin).")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ServiceError("The incident is closed.")
        response = _response_for(locked)
        if response.assignee_id == assignee.pk:
            return response
        response.assignee = assignee
        response.save(update_fields=["assignee"])
        _timeline(
            locked.pk,
            TimelineEntry.Kind.ASSIGNED,
            f"Assigned to {assignee.get_username()} by {actor.get_username()}",
            timezone.now(),
            actor=actor,
        )
        audit_record(
            actor=actor, action="incidents.incident.assign", obj=locked, changes={"assignee": assignee.get_username()}
        )
    return response


def incident_note(*, actor, incident: Incident, text: str) -> TimelineEntry:
    if not permissions.can_respond(actor, incident):
        raise PermissionDenied("Only the service's team and Platform Admins can add to the timeline.")
    text = (text or "").strip()
    if not text or "\x00" in text:
        raise ServiceError("Write a note (plain text).")
    return _timeline(incident.pk, TimelineEntry.Kind.NOTE, text[:1000], timezone.now(), actor=actor)
