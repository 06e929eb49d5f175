"""State changes of pipelines: integrations, deliveries, runs, deployments, incidents.

Processing is idempotent: rows are found by their provider ids (unique
constraints), and a status is only written by a conditional UPDATE that
refuses to lower ``status_rank``; a duplicate or late event changes nothing
it should not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Entity, Kind
from pipelines import permissions, providers, secrets
from pipelines.models import (
    Branch,
    Commit,
    Delivery,
    DeliveryStatus,
    Deployment,
    HistoryState,
    Incident,
    Integration,
    Pipeline,
    Provider,
    Repository,
    Run,
    RunStatus,
    status_rank,
)
from portal.services import ServiceError, audit_record

logger = logging.getLogger(__name__)

ANNOTATION_KEYS = {
    Provider.GITHUB: ("github.com/project-slug",),
    Provider.GITLAB: ("gitlab.com/project-slug",),
    Provider.GENERIC: ("github.com/project-slug", "gitlab.com/project-slug"),
}


# --- integrations ------------------------------------------------------------------


@dataclass(frozen=True)
class NewSecret:
    integration: Integration
    secret: str  # shown once, never stored in clear


SECRET_MAX_LENGTH = 256
_PATTERN = re.compile(r"^[A-Za-z0-9._\-/*]+$")


def _clean_secret(secret: str) -> str:
    """An admin's own secret, as the other side will use it: never empty, never padded, no control characters."""
    if not isinstance(secret, str) or not secret.strip():
        raise ServiceError("The secret cannot be empty.")
    if secret != secret.strip():
        raise ServiceError("The secret starts or ends with a space; the sender would not send that.")
    if len(secret) > SECRET_MAX_LENGTH:
        raise ServiceError(f"The secret is longer than {SECRET_MAX_LENGTH} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret):
        raise ServiceError("The secret contains a control character.")
    return secret


def _clean_scope(repositories, owners) -> tuple[list[str], list[str]]:
    """Repository slugs or patterns (``acme/payments``, ``acme/*``, ``*``) and owning teams (group refs)."""
    clean_repos: list[str] = []
    for raw in repositories or ():
        value = str(raw).strip()
        if not value:
            continue
        if len(value) > 255 or not _PATTERN.match(value):
            raise ServiceError(
                f"“{value[:80]}” is not a repository or a pattern: use owner/name, group/project or owner/* "
                "(letters, digits, . _ - / and *)."
            )
        if value.lower() not in (r.lower() for r in clean_repos):
            clean_repos.append(value)
    clean_owners: list[str] = []
    for raw in owners or ():
        value = str(raw).strip()
        if not value:
            continue
        ref = owner_ref_normalize(value)
        if ref is None:
            raise ServiceError(f"“{value[:80]}” is not a team: use group:namespace/name or a team's name.")
        namespace, name = ref[len("group:") :].split("/", 1)
        if not Entity.objects.filter(kind=Kind.GROUP, namespace__iexact=namespace, name__iexact=name).exists():
            raise ServiceError(f"No catalog Group “{ref}”.")
        if ref not in clean_owners:
            clean_owners.append(ref)
    if not clean_repos and not clean_owners:
        raise ServiceError(
            "Give the repositories this integration posts for (owner/name or owner/*), or the teams whose "
            "services it serves: a delivery for any other repository is refused."
        )
    return clean_repos, clean_owners


def owner_ref_normalize(value: str) -> str | None:
    """``team-a``, ``group:team-a`` or ``group:ns/team-a`` → ``group:ns/team-a``, lower case like catalog owners."""
    text = value.strip().lower()
    if text.startswith("group:"):
        text = text[len("group:") :]
    elif ":" in text:
        return None
    namespace, name = text.split("/", 1) if "/" in text else ("default", text)
    if not namespace or not name or "/" in name or " " in text:
        return None
    return f"group:{namespace}/{name}"


def integration_create(
    *,
    actor,
    provider: str,
    name: str,
    repositories: Sequence[str] = (),
    owners: Sequence[str] = (),
    secret: str | None = None,
) -> NewSecret:
    """Create an integration for the repositories (or the teams' services) it serves; a secret is generated
    unless the admin gives one (to reuse the secret an organisation's webhook already has)."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the integration a name.")
    if provider not in Provider.values:
        raise ServiceError("Choose GitHub, GitLab or generic.")
    repositories, owners = _clean_scope(repositories, owners)
    chosen = secret is not None
    secret = _clean_secret(secret) if chosen else secrets.generate()
    with transaction.atomic():
        if Integration.objects.filter(name__iexact=name).exists():
            raise ServiceError(f"An integration called “{name}” already exists.")
        integration = Integration.objects.create(
            provider=provider,
            name=name[:100],
            secret_encrypted=secrets.encrypt(secret),
            secret_prefix="" if chosen else secret[:8],
            secret_chosen=chosen,
            repositories=repositories,
            owners=owners,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="pipelines.integration.create",
            obj=integration,
            changes={"provider": provider, "repositories": repositories, "owners": owners, "secret_chosen": chosen},
        )
    return NewSecret(integration=integration, secret=secret)


def _secret_replace(*, actor, integration_id: int, secret: str, chosen: bool, action: str) -> NewSecret:
    with transaction.atomic():
        integration = Integration.objects.select_for_update().filter(pk=integration_id).first()
        if integration is None:
            raise ServiceError("No such integration.")
        integration.secret_encrypted = secrets.encrypt(secret)
        integration.secret_prefix = "" if chosen else secret[:8]
        integration.secret_chosen = chosen
        integration.rotated_at = timezone.now()
        integration.save(update_fields=["secret_encrypted", "secret_prefix", "secret_chosen", "rotated_at"])
        audit_record(actor=actor, action=action, obj=integration)
    return NewSecret(integration=integration, secret=secret)


def integration_rotate(*, actor, integration_id: int) -> NewSecret:
    """Replace the secret with a new generated one; the old one stops working at once."""
    return _secret_replace(
        actor=actor,
        integration_id=integration_id,
        secret=secrets.generate(),
        chosen=False,
        action="pipelines.integration.rotate",
    )


def integration_secret_set(*, actor, integration_id: int, secret: str) -> NewSecret:
    """Replace the secret with one the admin chose (an organisation's webhook may already have one)."""
    return _secret_replace(
        actor=actor,
        integration_id=integration_id,
        secret=_clean_secret(secret),
        chosen=True,
        action="pipelines.integration.secret_set",
    )


def integration_scope_set(*, actor, integration_id: int, repositories: Sequence[str], owners: Sequence[str]):
    """Set the repositories (patterns) and owning teams an integration posts for."""
    repositories, owners = _clean_scope(repositories, owners)
    with transaction.atomic():
        integration = Integration.objects.select_for_update().filter(pk=integration_id).first()
        if integration is None:
            raise ServiceError("No such integration.")
        before = {"repositories": integration.repositories, "owners": integration.owners}
        integration.repositories, integration.owners = repositories, owners
        integration.save(update_fields=["repositories", "owners"])
        audit_record(
            actor=actor,
            action="pipelines.integration.scope",
            obj=integration,
            changes={"repositories": [before["repositories"], repositories], "owners": [before["owners"], owners]},
        )
    return integration


def integration_delete(*, actor, integration_id: int) -> str:
    with transaction.atomic():
        integration = Integration.objects.select_for_update().filter(pk=integration_id).first()
        if integration is None:
            raise ServiceError("No such integration.")
        name = integration.name
        audit_record(
            actor=actor,
            action="pipelines.integration.delete",
            obj=integration,
            changes={"provider": integration.provider},
        )
        integration.delete()
    return name


# --- deliveries ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    delivery: Delivery
    duplicate: bool


def delivery_validate(parsed: providers.Parsed) -> None:
    """What the parser cannot check alone, checked before the sender gets its answer (a ServiceError is a 400):
    an incident's entity must exist, or DORA would silently miss the incident."""
    if isinstance(parsed, providers.IncidentEvent) and parsed.entity_ref and entity_by_ref(parsed.entity_ref) is None:
        raise ServiceError(f"No catalog entity “{parsed.entity_ref}” (use kind:namespace/name).")


def _entity_owner(entity: Entity) -> str:
    spec = entity.spec if isinstance(entity.spec, dict) else {}
    owner = spec.get("owner")
    return (owner_ref_normalize(owner) if isinstance(owner, str) else None) or entity.owner_ref or ""


def _owner_refs_for_repository(provider: str, slug: str) -> list[str]:
    """The owners of the catalog entities a repository belongs to: linked, or named by an annotation.

    A repository Bridge has seen is linked to its entity when it is first stored (and by the rematch),
    so one indexed lookup answers for the deliveries that follow; only a repository new to Bridge, or
    one no entity claims yet, is looked for in the entities' annotations."""
    linked = (
        Repository.objects.filter(provider=provider, slug=slug, entity__isnull=False).select_related("entity").first()
    )
    if linked is not None:
        return [ref for ref in (_entity_owner(linked.entity),) if ref]
    query = Q()
    for key in ANNOTATION_KEYS.get(provider, ()):
        query |= Q(**{f"annotations__{key}__iexact": slug})
    return sorted({_entity_owner(entity) for entity in Entity.objects.filter(query)[:50]} - {""})


def delivery_scope_refusal(integration: Integration, parsed: providers.Parsed) -> str | None:
    """Why this integration may not post this delivery (a sentence), or None if it may.

    The rule itself is ``permissions.integration_may_post_for``; this gathers what it needs: the
    repository the delivery is about and, when the integration is scoped to teams, the owners of the
    entities that repository (or the incident) belongs to."""
    if isinstance(parsed, providers.Ping | providers.Ignored) or "*" in integration.repositories:
        return None
    slugs: list[str] = []
    entities: list[Entity] = []
    if isinstance(parsed, providers.IncidentEvent):
        if parsed.repository:
            slugs.append(parsed.repository)
        if parsed.entity_ref:
            entity = entity_by_ref(parsed.entity_ref)
            if entity is not None:
                entities.append(entity)
        about = parsed.repository or parsed.entity_ref or "no repository or entity"
    else:
        slugs.append(parsed.repo.slug)
        about = parsed.repo.slug
    if permissions.integration_may_post_for(integration, slugs=slugs):
        return None
    if integration.owners:
        owner_refs = [_entity_owner(e) for e in entities]
        for entity in entities:  # an entity's own repositories, by its annotations
            annotations = entity.annotations if isinstance(entity.annotations, dict) else {}
            slugs += [v for k, v in annotations.items() if k.endswith("/project-slug") and isinstance(v, str)]
        provider = getattr(getattr(parsed, "repo", None), "provider", integration.provider)
        for slug in slugs:
            owner_refs += _owner_refs_for_repository(provider, slug)
        if permissions.integration_may_post_for(integration, slugs=slugs, owner_refs=owner_refs):
            return None
    scope = ", ".join([*integration.repositories[:5], *integration.owners[:5]])
    return (
        f"This integration posts only for {scope}; “{about[:200]}” is not one of them. "
        "A Platform Admin can widen its scope on the integration's page in Bridge."
    )


def delivery_receive(
    *,
    integration: Integration,
    delivery_id: str,
    event: str,
    headers: dict,
    body: str,
    parsed: providers.Parsed,
    refusal: str | None = None,
) -> Received:
    """Store an accepted (verified, parsed) delivery and kick a drain to process it (see ``_kick``).

    Ignored events and pings are stored already settled; so is a delivery the integration may not post
    (``refusal``, see ``delivery_scope_refusal``), as refused, never processed. A delivery id seen before
    is not stored twice; one that failed before, or was refused and is now within the scope, is processed.
    """
    now = timezone.now()
    if refusal:
        status, error = DeliveryStatus.REFUSED, refusal[:1000]
    elif isinstance(parsed, providers.Ignored):
        status, error = DeliveryStatus.IGNORED, parsed.reason
    elif isinstance(parsed, providers.Ping):
        status, error = DeliveryStatus.PROCESSED, ""
    else:
        status, error = DeliveryStatus.PENDING, ""
    # The INSERT commits by itself: BEGIN and COMMIT around it would cost two more round trips of the
    # receiver's few. Inside a caller's transaction it gets a savepoint, so a duplicate cannot abort that.
    alone = transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()
    try:
        with alone:
            delivery = Delivery.objects.create(
                integration=integration,
                delivery_id=delivery_id[:200],
                event=event[:100],
                headers=headers,
                body=body,
                status=status,
                error=error,
                processed_at=None if status == DeliveryStatus.PENDING else now,
            )
            if status == DeliveryStatus.PENDING:
                transaction.on_commit(_kick)
    except IntegrityError:
        delivery = Delivery.objects.get(integration=integration, delivery_id=delivery_id[:200])
        Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
        again = [DeliveryStatus.FAILED] if refusal else [DeliveryStatus.FAILED, DeliveryStatus.REFUSED]
        if status == DeliveryStatus.PENDING:
            retry = Delivery.objects.filter(pk=delivery.pk, status__in=again).update(
                status=DeliveryStatus.PENDING, error="", processed_at=None
            )
            if retry:
                transaction.on_commit(_kick)
        return Received(delivery=delivery, duplicate=True)
    # At most one write a minute to the integration row: it is hot under load.
    last = integration.last_delivery_at
    if last is None or (now - last).total_seconds() > 60:
        Integration.objects.filter(pk=integration.pk).update(last_delivery_at=now)
    return Received(delivery=delivery, duplicate=False)


# Processing is coalesced: the receiver does not queue one task per delivery but "kicks" a drain,
# at most twice per window and web process (``KICK_WINDOW_SECONDS``): one drain at once and one
# ``KICK_TAIL_SECONDS`` later. A drain processes every pending delivery it can claim, in batches, until
# none is left. Why nothing is stranded: a delivery is committed before its kick. Either its kick sends a
# drain (which starts after the commit, so finds it), or the kick key was already set less than a window
# ago by a kick whose tail drain starts after the key expires, so after this commit too. This holds for a
# per-process cache as well as for a shared one; the sweeper (``deliveries_requeue_stale``) stays as the
# last resort for a lost broker message or a dead worker.
KICK_KEY = "pipelines:drain-kick"
KICK_WINDOW_SECONDS = 1
KICK_TAIL_SECONDS = 2  # > the window, with a margin for clocks and the broker
DRAIN_BATCH = 100
DRAIN_BUDGET_SECONDS = 60  # then a drain hands over to a fresh task, well inside the task's time limit
# How long a drain holds the deliveries it claimed. Longer than a batch takes (about a second), and well
# inside the sweeper's 300 s: the deliveries of a drain that died are taken up again when it lapses.
CLAIM_LEASE = timedelta(minutes=2)
DRAIN_LOCK_KEY = 0x6272_6964_0000  # PostgreSQL advisory lock keys of the drain slots: this + slot number


def _kick() -> None:
    """Make sure a drain runs after this (committed) delivery. Never raises: the sender gets its 202 anyway."""
    from django.core.cache import caches

    try:
        first = caches[settings.PIPELINES_KICK_CACHE].add(KICK_KEY, 1, timeout=KICK_WINDOW_SECONDS)
    except Exception:  # noqa: BLE001 (a cache outage must not lose the kick)
        logger.warning("Could not reach the kick cache; queueing a drain anyway", exc_info=True)
        first = True
    if first:
        _send_drain()
        _send_drain(countdown=KICK_TAIL_SECONDS)


def _send_drain(countdown: float | None = None) -> bool:
    """Queue a drain. If the broker is down the deliveries stay pending and the sweeper queues a drain later."""
    from pipelines.tasks import drain_deliveries

    try:
        drain_deliveries.apply_async(countdown=countdown)
        return True
    except Exception:  # noqa: BLE001 (any broker error; the rows stay pending and are swept up)
        logger.warning("Could not queue a drain of the pending deliveries; the sweeper will retry", exc_info=True)
        return False


def _unclaimed(now: datetime) -> Q:
    """Deliveries no drain holds at ``now``: never claimed, or their claim has lapsed."""
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _claim(after_pk: int, limit: int) -> list[Delivery]:
    """Pending deliveries after ``after_pk``, in id order, that no other drain holds: each is held for
    ``CLAIM_LEASE`` (other drains take the next ones instead of racing for these), with what applying
    it needs."""
    now = timezone.now()
    with transaction.atomic():
        pks = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(_unclaimed(now), status=DeliveryStatus.PENDING)
            .filter(pk__gt=after_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not pks:
            return []
        Delivery.objects.filter(pk__in=pks).update(claimed_until=now + CLAIM_LEASE)
    return list(
        Delivery.objects.filter(pk__in=pks)
        .select_related("integration")
        .only("pk", "event", "body", "integration__provider")
        .order_by("pk")
    )


@contextlib.contextmanager
def _drain_slot():
    """Yields whether this drain may process now: on PostgreSQL, at most ``PIPELINES_DRAIN_CONCURRENCY``
    drains do at once (session advisory locks, let go when the drain ends or its connection closes).
    Elsewhere (SQLite: one worker) every drain may, each taking its own batches."""
    if connection.vendor != "postgresql":
        yield True
        return
    held = None
    with connection.cursor() as cursor:
        for slot in range(max(1, settings.PIPELINES_DRAIN_CONCURRENCY)):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [DRAIN_LOCK_KEY + slot])
            if cursor.fetchone()[0]:
                held = DRAIN_LOCK_KEY + slot
                break
    try:
        yield held is not None
    finally:
        if held is not None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [held])
            except Exception:  # noqa: BLE001 (a lost connection has let go of the lock already)
                logger.warning("Could not release drain slot %s", held, exc_info=True)


def _unclaimed_pending_exists() -> bool:
    return Delivery.objects.filter(_unclaimed(timezone.now()), status=DeliveryStatus.PENDING).exists()


def deliveries_drain(*, batch_size: int = DRAIN_BATCH, budget_seconds: float = DRAIN_BUDGET_SECONDS) -> int:
    """Process pending deliveries in id order until none is left; returns how many this drain handled.

    A drain that finds every slot taken (``_drain_slot``) ends at once: the drains holding them take
    its deliveries too. Drains that run at once each claim their own batches (``_claim``), and each
    delivery is applied in its own transaction, exactly as ``delivery_process`` does (a failure marks
    that delivery failed and the drain goes on). A drain that runs out of its time budget queues a
    fresh one.
    """
    deadline = time.monotonic() + budget_seconds
    handled, out_of_time = 0, False
    while True:
        with _drain_slot() as may_drain:
            if not may_drain:
                return handled
            after = 0
            while claimed := _claim(after, batch_size):
                memo = ProcessingMemo()
                for delivery in claimed:
                    _delivery_apply(delivery, memo)
                    handled += 1
                after = claimed[-1].pk
                if time.monotonic() > deadline:
                    out_of_time = True
                    break
        if out_of_time:  # queued once the slot is free, so that the fresh drain can take it
            _send_drain()
            return handled
        # A delivery committed while this drain was finishing had its own drain turned away (the slot was
        # held): now that the slot is free, look once more.
        if not _unclaimed_pending_exists():
            return handled


def deliveries_requeue_stale(*, older_than_seconds: int = 300) -> int:
    """Drain again if deliveries are still pending after a while (a lost broker message, a dead worker).

    Returns how many stale deliveries there were; the drain (not gated by the kick key) processes them."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Delivery.objects.filter(status=DeliveryStatus.PENDING, received_at__lt=cutoff).count()
    if stale:
        _send_drain()
    return stale


def deliveries_prune(*, older_than_days: int) -> int:
    """Delete settled raw deliveries older than the retention; runs and deployments stay."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Delivery.objects.filter(
        received_at__lt=cutoff,
        status__in=[DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.REFUSED],
    ).delete()
    return deleted


class ProcessingMemo:
    """What a drain remembers from one delivery to the next within a batch (a fraction of a second):
    the repositories it has seen and the commits it has stored. Only used to skip reads and writes
    that would change nothing; every write that matters stays conditional in the database."""

    def __init__(self) -> None:
        self.repositories: dict[tuple[str, str], Repository] = {}
        self.commits: set[tuple[int, str]] = set()

    def forget(self) -> None:
        """After a rolled-back delivery: what it created may not exist."""
        self.repositories.clear()
        self.commits.clear()


def delivery_process(*, delivery_pk: int, memo: ProcessingMemo | None = None) -> str:
    """Apply a stored delivery. Safe to call twice, and from several workers at once; returns its status."""
    delivery = Delivery.objects.select_related("integration").filter(pk=delivery_pk).first()
    if delivery is None:
        return "missing"
    return _delivery_apply(delivery, memo)


def _delivery_apply(delivery: Delivery, memo: ProcessingMemo | None) -> str:
    """Apply ``delivery`` (its event, body and integration's provider loaded) once.

    Its status is written first, in the transaction that applies it: that UPDATE takes the row's lock,
    so a second worker with the same delivery waits, then finds it no longer pending and leaves it.
    If applying fails, the transaction rolls back and the delivery is marked failed instead."""
    try:
        with transaction.atomic():
            taken = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.PROCESSED, processed_at=timezone.now(), error="", claimed_until=None
            )
            if not taken:
                return Delivery.objects.filter(pk=delivery.pk).values_list("status", flat=True).first() or "missing"
            parsed = providers.parse(delivery.integration.provider, delivery.event, json.loads(delivery.body))
            apply_event(parsed, memo=memo)
        return DeliveryStatus.PROCESSED
    except providers.PayloadError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 (a bad row must not poison the queue; it is kept as failed)
        logger.exception("Processing delivery %s failed", delivery.pk)
        error = f"{type(exc).__name__}: {exc}"[:1000]
    if memo is not None:
        memo.forget()
    # Only a delivery still pending: another worker may have applied it since this transaction rolled back.
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, processed_at=timezone.now(), error=error, claimed_until=None
    )
    return DeliveryStatus.FAILED


def apply_event(parsed: providers.Parsed, memo: ProcessingMemo | None = None) -> None:
    if isinstance(parsed, providers.RunEvent):
        run_upsert(event=parsed, memo=memo)
    elif isinstance(parsed, providers.JobEvent):
        job_upsert(event=parsed, memo=memo)
    elif isinstance(parsed, providers.DeploymentEvent):
        deployment_upsert(event=parsed)
    elif isinstance(parsed, providers.CommitsEvent):
        commits_record(event=parsed)
    elif isinstance(parsed, providers.IncidentEvent):
        incident_record(
            source="api",
            external_id=parsed.incident_id,
            title=parsed.title,
            started_at=parsed.started_at,
            resolved_at=parsed.resolved_at,
            entity_ref=parsed.entity_ref,
            repository_slug=parsed.repository,
            deployment_id=parsed.deployment_id,
            url=parsed.url,
        )


# --- repositories and entities -------------------------------------------------------


def entity_for_slug(provider: str, slug: str) -> Entity | None:
    query = Q()
    for key in ANNOTATION_KEYS.get(provider, ()):
        query |= Q(**{f"annotations__{key}__iexact": slug})
    return Entity.objects.filter(query).order_by("pk").first() if query else None


def entity_by_ref(ref: str) -> Entity | None:
    """``kind:namespace/name`` or ``kind:name`` (namespace default)."""
    if ":" not in ref:
        return None
    kind, rest = ref.split(":", 1)
    namespace, name = rest.split("/", 1) if "/" in rest else ("default", rest)
    return Entity.objects.filter(kind__iexact=kind, namespace__iexact=namespace, name__iexact=name).first()


def _get_or_create(model, lookup: dict, defaults: dict):
    obj = model.objects.filter(**lookup).first()
    if obj is not None:
        return obj, False
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **defaults), True
    except IntegrityError:  # created by a concurrent delivery in the meantime
        return model.objects.get(**lookup), False


def repository_ensure(info: providers.RepoInfo, memo: ProcessingMemo | None = None) -> Repository:
    key = (info.provider, info.slug)
    if memo is not None:
        known = memo.repositories.get(key)
        # Seen earlier in this batch with the same details: nothing to read or write.
        if (
            known is not None
            and known.default_branch == (info.default_branch or known.default_branch)
            and (known.url or not info.url)
        ):
            return known
    repo, created = _get_or_create(
        Repository,
        {"provider": info.provider, "slug": info.slug},
        {"url": info.url, "default_branch": info.default_branch},
    )
    changes = {}
    if info.default_branch and repo.default_branch != info.default_branch:
        changes["default_branch"] = info.default_branch
    if info.url and not repo.url:
        changes["url"] = info.url
    if created:
        # Matched once here; later catalog changes are picked up by repositories_rematch (beat and admin button),
        # and the dashboards also find repositories by the annotations directly.
        entity = entity_for_slug(info.provider, info.slug)
        if entity is not None:
            changes["entity"] = entity
    if changes:
        for key, value in changes.items():
            setattr(repo, key, value)
        repo.save(update_fields=list(changes))
    if memo is not None:
        memo.repositories[key] = repo
    return repo


def repository_link(*, actor, repository_id: int, entity: Entity | None) -> Repository:
    with transaction.atomic():
        repo = Repository.objects.select_for_update().filter(pk=repository_id).first()
        if repo is None:
            raise ServiceError("No such repository.")
        before = repo.entity.ref if repo.entity else None
        repo.entity = entity
        repo.linked_manually = entity is not None
        repo.save(update_fields=["entity", "linked_manually"])
        audit_record(
            actor=actor,
            action="pipelines.repository.link",
            obj=repo,
            changes={"entity": [before, entity.ref if entity else None]},
        )
    return repo


def repositories_rematch() -> int:
    """Match unlinked repositories against the catalog's annotations again; returns how many matched."""
    matched = 0
    for repo in Repository.objects.filter(entity__isnull=True, linked_manually=False)[:1000]:
        entity = entity_for_slug(repo.provider, repo.slug)
        if entity is not None:
            Repository.objects.filter(pk=repo.pk, entity__isnull=True).update(entity=entity)
            matched += 1
    return matched


# --- runs ----------------------------------------------------------------------------


def _duration(started: datetime | None, finished: datetime | None) -> int | None:
    if started and finished and finished >= started:
        return int((finished - started).total_seconds())
    return None


def _locked_pipeline(repo: Repository, name: str) -> Pipeline:
    # One writer per pipeline at a time: run creation and the summary below stay consistent,
    # and the run rows read after this lock are current.
    pipeline = Pipeline.objects.select_for_update().filter(repository=repo, name=name[:255]).first()
    if pipeline is None:
        created, _ = _get_or_create(Pipeline, {"repository": repo, "name": name[:255]}, {})
        pipeline = Pipeline.objects.select_for_update().get(pk=created.pk)
    return pipeline


def _ensure_run(pipeline: Pipeline, run_id: str, attempt: int, defaults: dict) -> tuple[Run, bool]:
    return _get_or_create(Run, {"pipeline": pipeline, "provider_id": run_id, "attempt": attempt}, defaults)


def _advance(model, pk: int, rank: int, fields: dict, *, at: datetime | None = None, at_field: str = "") -> bool:
    """The conditional update: write only if the stored status is not further along.

    With ``at`` (the provider's time of this state, stored in ``at_field``), a state as far along as the
    stored one replaces it only if it is not older: a late duplicate cannot undo a newer change."""
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    newer = Q(status_rank__lt=rank)
    if at is None:
        newer |= Q(status_rank=rank)
    else:
        newer |= Q(status_rank=rank) & (Q(**{f"{at_field}__isnull": True}) | Q(**{f"{at_field}__lte": at}))
    return bool(model.objects.filter(newer, pk=pk).update(status_rank=rank, **values))


def _advance_in_time(pk: int, rank: int, fields: dict, at: datetime) -> bool:
    """The conditional update of a run whose CI keeps its id when it is retried (GitLab pipelines, check
    suites, commit statuses): the newer state wins, even one less far along (running again after failed).
    A state that is not finished clears the end and the duration of the one it replaces."""
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    if rank < 2:
        values.update(finished_at=None, duration_seconds=None)
    newer = Q(state_at__lt=at) | Q(state_at=at, status_rank__lte=rank) | Q(state_at__isnull=True, status_rank__lte=rank)
    return bool(Run.objects.filter(newer, pk=pk).update(status_rank=rank, **values))


def _timing(event, rank: int) -> dict:
    """Start, end and duration of a run or job; the end only counts once it has finished (rank 2).
    The duration is the CI's own figure when it sends one (GitLab leaves out the idle time of retries)."""
    done = rank >= 2
    duration = event.duration_seconds if event.duration_seconds is not None else None
    return {
        "started_at": event.started_at,
        "finished_at": event.finished_at if done else None,
        "duration_seconds": (duration if duration is not None else _duration(event.started_at, event.finished_at))
        if done
        else None,
    }


def _run_fields(event: providers.RunEvent, rank: int) -> dict:
    return {
        "number": event.number,
        "name": event.name,
        "title": event.title,
        "branch": event.branch,
        "commit_sha": event.commit_sha,
        "event": event.event,
        "status": event.status,
        "conclusion": event.conclusion[:40],
        **_timing(event, rank),
        "url": event.url,
        "actor": event.actor,
        "state_at": event.state_at,
    }


def _new_run(event: providers.RunEvent, rank: int) -> dict:
    """The columns of a run created from ``event`` (what is unknown keeps the column's default)."""
    fields = _run_fields(event, rank)
    return {"created_at": event.created_at, "status_rank": rank, **{k: v for k, v in fields.items() if v is not None}}


def run_upsert(*, event: providers.RunEvent, memo: ProcessingMemo | None = None) -> Run:
    with transaction.atomic(savepoint=False):
        repo = repository_ensure(event.repo, memo)
        pipeline = _locked_pipeline(repo, event.pipeline_name)
        rank = status_rank(event.status)
        fields = _run_fields(event, rank)
        run, created = _ensure_run(pipeline, event.run_id, event.attempt, _new_run(event, rank))
        changed = created
        moved = created  # a new run, or one whose branch or creation time changed: the summaries are reordered
        previous_status = None if created else run.status
        previous_branch = run.branch
        if not created and fields["duration_seconds"] is None and fields["finished_at"] and run.started_at:
            # The end arrives without the start (a commit status, a check suite): the start is the stored one.
            fields["duration_seconds"] = _duration(run.started_at, fields["finished_at"])
        if not created:
            if event.restartable and event.state_at is not None:
                changed = _advance_in_time(run.pk, rank, fields, event.state_at)
            else:
                changed = _advance(Run, run.pk, rank, fields, at=event.state_at, at_field="state_at")
            if not changed:
                # A late event for a run that is further along: only fill what is still missing.
                late = {
                    k: v
                    for k, v in fields.items()
                    if k in ("number", "name", "title", "branch", "commit_sha", "event", "url", "actor")
                }
                for key, value in late.items():
                    if value and not getattr(run, key):
                        Run.objects.filter(pk=run.pk, **{key: getattr(run, key)}).update(**{key: value})
            else:
                # Under the pipeline lock the update above is exactly what the row now holds.
                run.status_rank = rank
                for key, value in fields.items():
                    if value not in (None, ""):
                        setattr(run, key, value)
                if rank < 2:
                    run.finished_at = run.duration_seconds = None
                moved = run.branch != previous_branch
            if event.created_at < run.created_at:
                Run.objects.filter(pk=run.pk, created_at__gt=event.created_at).update(created_at=event.created_at)
                run.created_at = event.created_at
                changed = moved = True
        if created and event.jobs:
            _jobs_create(run, event.jobs)  # a new run has no jobs yet (job_upsert waits for the pipeline lock)
        else:
            for job in event.jobs:
                _job_apply(run, job)
        if event.commit_sha and event.commit_at and (created or (changed and rank >= 2)):
            _commit_store(repo, event.commit_sha, event.commit_at, memo)
        if changed:  # a duplicate or a stale event changes no summary
            _pipeline_refresh(pipeline, run, repo, moved=moved)
            newly_failed = run.status == RunStatus.FAILED and previous_status != RunStatus.FAILED
            if newly_failed and run.branch and run.branch == repo.default_branch and not event.quiet:
                _notify_default_branch_failure(run, pipeline, repo)
    return run


def _notify_default_branch_failure(run: Run, pipeline: Pipeline, repo: Repository) -> None:
    """Tell the owning team that its default branch is red (once: only the change to failed gets here)."""
    from catalog.selectors import owner_team_members
    from portal.models import NotificationEvent
    from portal.services import notify

    if repo.entity is None:
        return
    notify(
        users=owner_team_members(repo.entity),
        event=NotificationEvent.PIPELINE_FAILED,
        title=f"{repo.slug} · {pipeline.name} failed on {run.branch}",
        body=f"Run #{run.number or run.provider_id} by {run.actor or 'someone'} failed "
        f"({run.conclusion or 'failure'}).",
        url=run.get_absolute_url(),
        team_refs=[repo.entity.owner_ref] if repo.entity.owner_ref else [],
    )


def _job_apply(run: Run, event: providers.JobEvent) -> None:
    from pipelines.models import Job

    rank = status_rank(event.status)
    fields = {
        "name": event.name,
        "stage": event.stage,
        "status": event.status,
        "conclusion": event.conclusion[:40],
        **_timing(event, rank),
        "url": event.url,
        "steps": event.steps or None,
    }
    job, created = _get_or_create(
        Job,
        {"run": run, "provider_id": event.job_id},
        {"status_rank": rank, **{k: v for k, v in fields.items() if v is not None}},
    )
    if not created:
        _advance(Job, job.pk, rank, fields)


def _jobs_create(run: Run, events: list[providers.JobEvent]) -> None:
    """The jobs of a run just created, in one statement (a backfill reads thousands); the same rows as
    ``_job_apply`` would write. Should one exist after all, it is left alone and updated as usual."""
    from pipelines.models import Job

    Job.objects.bulk_create(_job_rows(run, events), ignore_conflicts=True)


def _job_rows(run: Run, events: list[providers.JobEvent]) -> list:
    from pipelines.models import Job

    rows, seen = [], set()
    for event in events:
        if event.job_id in seen:
            continue
        seen.add(event.job_id)
        rank = status_rank(event.status)
        fields = {
            "name": event.name,
            "stage": event.stage,
            "status": event.status,
            "conclusion": event.conclusion[:40],
            **_timing(event, rank),
            "url": event.url,
            "steps": event.steps or None,
        }
        rows.append(
            Job(
                run=run,
                provider_id=event.job_id,
                status_rank=rank,
                **{k: v for k, v in fields.items() if v is not None},
            )
        )
    return rows


def job_upsert(*, event: providers.JobEvent, memo: ProcessingMemo | None = None) -> Run:
    with transaction.atomic(savepoint=False):
        repo = repository_ensure(event.repo, memo)
        pipeline = _locked_pipeline(repo, event.pipeline_name)
        # The job may arrive before its run (or be all Bridge hears of it): create the run as queued, named
        # and linked from what the job tells; the run's own events fill in the rest.
        about = {"url": event.run_url, "name": event.run_name, "title": event.title, "actor": event.actor}
        run, created = _ensure_run(
            pipeline,
            event.run_id,
            event.attempt,
            {
                "created_at": event.created_at or event.started_at or timezone.now(),
                "branch": event.branch,
                "commit_sha": event.commit_sha,
                "status": RunStatus.QUEUED,
                "status_rank": 0,
                **{k: v for k, v in about.items() if v},
            },
        )
        if not created:
            for key, value in about.items():
                if value and not getattr(run, key):
                    Run.objects.filter(pk=run.pk, **{key: ""}).update(**{key: value})
        _job_apply(run, event)
        advanced = False
        if event.status == RunStatus.RUNNING and run.status_rank == 0:
            advanced = _advance(Run, run.pk, 1, {"status": RunStatus.RUNNING, "started_at": event.started_at})
            run.refresh_from_db()
        if created or advanced:
            _pipeline_refresh(pipeline, run, repo, moved=created)
    return run


def _pipeline_refresh(pipeline: Pipeline, run: Run, repo: Repository, *, moved: bool = True) -> None:
    """Keep the denormalised summaries (latest run per branch, attention order) current.

    ``pipeline`` is locked (``_locked_pipeline``), so its summary columns are current. ``moved`` is false
    when only the status of an existing run changed (not its branch or creation time): then the latest
    runs stay the same runs, and only a run that is one of them can change the attention order.
    """
    if not moved:
        _pipeline_status_refresh(pipeline, run)
        return
    if run.branch:
        branch, created = _get_or_create(Branch, {"pipeline": pipeline, "name": run.branch}, {"last_run": run})
        if not created and branch.last_run_id != run.pk:
            Branch.objects.filter(pk=branch.pk, last_run__created_at__lte=run.created_at).update(last_run=run)
    _pipeline_summary_refresh(pipeline, repo)


def _pipeline_summary_refresh(pipeline: Pipeline, repo: Repository) -> None:
    """The pipeline's latest run, its default branch's latest run and its place in the attention order."""
    runs = Run.objects.filter(pipeline=pipeline).order_by("-created_at", "-attempt")
    last = runs.first()
    default_branch = repo.default_branch
    default_run = runs.filter(branch=default_branch).first() if default_branch else None
    if default_run is not None and default_run.status == RunStatus.FAILED:
        attention = 0
    elif last is not None and last.status_rank < 2:
        attention = 1
    else:
        attention = 2
    Pipeline.objects.filter(pk=pipeline.pk).update(
        last_run=last,
        default_branch_run=default_run,
        attention=attention,
        last_activity_at=max(
            (t for t in (last.finished_at if last else None, last.created_at if last else None) if t), default=None
        ),
    )


def _pipeline_status_refresh(pipeline: Pipeline, run: Run) -> None:
    is_last, is_default = run.pk == pipeline.last_run_id, run.pk == pipeline.default_branch_run_id
    if not (is_last or is_default):
        return  # an older run: neither the latest nor the default branch's latest
    if is_default:
        default_failed = run.status == RunStatus.FAILED
    elif pipeline.default_branch_run_id is None:
        default_failed = False
    else:
        status = Run.objects.filter(pk=pipeline.default_branch_run_id).values_list("status", flat=True).first()
        default_failed = status == RunStatus.FAILED
    if is_last:
        last_rank = run.status_rank
    else:
        last_rank = Run.objects.filter(pk=pipeline.last_run_id).values_list("status_rank", flat=True).first()
    attention = 0 if default_failed else 1 if last_rank is not None and last_rank < 2 else 2
    changes = {}
    if attention != pipeline.attention:
        changes["attention"] = attention
    if is_last:
        activity = max((t for t in (run.finished_at, run.created_at) if t), default=None)
        if activity != pipeline.last_activity_at:
            changes["last_activity_at"] = activity
    if changes:
        Pipeline.objects.filter(pk=pipeline.pk).update(**changes)


# --- commits and deployments --------------------------------------------------------


def _is_production(environment: str) -> bool:
    return environment.strip().lower() in {e.lower() for e in settings.PIPELINES_PRODUCTION_ENVIRONMENTS}


def _commit_store(repo: Repository, sha: str, committed_at: datetime, memo: ProcessingMemo | None = None) -> None:
    if memo is not None:
        if (repo.pk, sha[:64]) in memo.commits:
            return  # stored (and earlier deployments filled in) by a delivery a moment ago
        memo.commits.add((repo.pk, sha[:64]))
    Commit.objects.bulk_create(
        [Commit(repository=repo, sha=sha[:64], committed_at=committed_at)], ignore_conflicts=True
    )
    Deployment.objects.filter(repository=repo, commit_sha=sha[:64], commit_at__isnull=True).update(
        commit_at=committed_at
    )


def commits_record(*, event: providers.CommitsEvent) -> int:
    with transaction.atomic(savepoint=False):
        repo = repository_ensure(event.repo)
        for sha, committed_at in event.commits[:2000]:
            _commit_store(repo, sha, committed_at)
        transaction.on_commit(lambda: _announce_push(event))
    return len(event.commits)


def _announce_push(event: providers.CommitsEvent) -> None:
    """Tell other apps (through portal.events) that a repository received a push; the catalog listens."""
    from urllib.parse import urlsplit

    from portal import events

    web = event.repo.url or event.clone_url
    parts = urlsplit(web)
    if not parts.hostname:
        return
    host = parts.hostname.lower() + (f":{parts.port}" if parts.port and parts.port not in (80, 443) else "")
    branch = event.ref.removeprefix("refs/heads/") if event.ref.startswith("refs/heads/") else ""
    try:
        events.git_pushed.send(
            sender="pipelines",
            provider=event.repo.provider,
            host=host,
            repository=event.repo.slug,
            clone_url=event.clone_url,
            branch=branch,
            default_branch=event.repo.default_branch,
            after=event.after,
            paths=event.paths,
        )
    except Exception:  # noqa: BLE001 - a listener's failure must not fail the delivery, which is stored already
        logger.exception("A listener of git_pushed failed for %s", event.repo.slug)


def deployment_upsert(*, event: providers.DeploymentEvent) -> Deployment:
    """Create or update a deployment. Its environment moves with its status: a status that is applied
    brings its environment (and so whether it is production) along, in the same write; one that is
    not applied changes neither. The deployment was created when its first status says, at the latest,
    and never finished before it was created."""
    with transaction.atomic(savepoint=False):
        repo = repository_ensure(event.repo)
        commit_at = event.commit_at
        if commit_at is None and event.commit_sha:
            commit_at = (
                Commit.objects.filter(repository=repo, sha=event.commit_sha)
                .values_list("committed_at", flat=True)
                .first()
            )
        where = {
            "environment": event.environment,
            "is_production": _is_production(event.environment),
        }
        base = {
            "commit_sha": event.commit_sha,
            "ref": event.ref,
            "url": event.url,
            "actor": event.actor,
            "commit_at": commit_at,
        }
        rank = status_rank_deployment(event.status)
        created_at = min(t for t in (event.created_at, event.finished_at) if t is not None)
        deployment, created = _get_or_create(
            Deployment,
            {"repository": repo, "provider_id": event.deployment_id},
            {
                "created_at": created_at,
                "status": event.status or "pending",
                "status_rank": rank if event.status else 0,
                "status_at": event.status_at,
                "finished_at": event.finished_at,
                **where,
                **{k: v for k, v in base.items() if v not in (None, "")},
            },
        )
        if not created:
            if event.status is not None:
                _advance(
                    Deployment,
                    deployment.pk,
                    rank,
                    {"status": event.status, "finished_at": event.finished_at, "status_at": event.status_at, **where},
                    at=event.status_at,
                    at_field="status_at",
                )
            Deployment.objects.filter(pk=deployment.pk, created_at__gt=created_at).update(created_at=created_at)
            fill = {k: v for k, v in base.items() if v not in (None, "") and not getattr(deployment, k)}
            if fill:
                Deployment.objects.filter(pk=deployment.pk).update(**fill)
            deployment.refresh_from_db()
    return deployment


def status_rank_deployment(status: str | None) -> int:
    if status in (None, "pending"):
        return 0
    if status == "running":
        return 1
    return 2


# --- incidents -----------------------------------------------------------------------


def incident_record(
    *,
    source: str,
    external_id: str,
    title: str,
    started_at: datetime,
    resolved_at: datetime | None = None,
    entity: Entity | None = None,
    entity_ref: str = "",
    repository_slug: str = "",
    deployment_id: str = "",
    url: str = "",
    actor=None,
) -> Incident:
    """Create or update an incident. The knowledge app calls this for its incident runs and postmortems."""
    if resolved_at is not None and resolved_at < started_at:
        raise ServiceError("An incident cannot be resolved before it started.")
    with transaction.atomic():
        if entity is None and entity_ref:
            entity = entity_by_ref(entity_ref)
            if entity is None:
                raise ServiceError(f"No catalog entity “{entity_ref}”.")
        repository = None
        if repository_slug:
            repository = Repository.objects.filter(slug__iexact=repository_slug).order_by("pk").first()
        deployment = None
        if deployment_id:
            deployments = Deployment.objects.filter(provider_id=deployment_id)
            if entity is not None:
                # Provider ids repeat across repositories: only the incident's service's deployment counts.
                deployments = deployments.filter(repository__entity=entity)
            if repository is not None:
                deployments = deployments.filter(repository=repository)
            deployment = deployments.select_related("repository").order_by("pk").first()
            if deployment is not None and repository is None:
                repository = deployment.repository
        if entity is None and repository is not None:
            entity = repository.entity
        incident, created = _get_or_create(
            Incident,
            {"source": source[:40], "external_id": external_id[:200]},
            {
                "title": title[:300],
                "started_at": started_at,
                "resolved_at": resolved_at,
                "entity": entity,
                "repository": repository,
                "deployment": deployment,
                "url": url,
            },
        )
        if not created:
            incident.title = title[:300]
            incident.started_at = started_at
            incident.resolved_at = resolved_at or incident.resolved_at
            incident.entity = entity or incident.entity
            incident.repository = repository or incident.repository
            incident.deployment = deployment or incident.deployment
            incident.url = url or incident.url
            incident.save()
        if actor is not None:
            audit_record(actor=actor, action="pipelines.incident.record", obj=incident, changes={"source": source})
    return incident


def incident_from_event(
    *,
    source: str,
    external_id: str,
    title: str,
    entity_id,
    started_at,
    resolved_at,
    deployment_ref: str,
    url: str,
    outcome: str = "",
    **_ignored,
) -> Incident | None:
    """Receiver of ``portal.events.incident_changed``: keep DORA's incident record in step.

    An incident closed as a false alarm was no production failure: its record is removed, so it
    counts neither as a failed change nor towards recovery time."""
    if outcome == "false_alarm":
        with transaction.atomic():
            for incident in Incident.objects.filter(source=source[:40], external_id=external_id[:200]):
                audit_record(
                    actor=None, action="pipelines.incident.discard", obj=incident, changes={"outcome": outcome}
                )
                incident.delete()
        return None
    # Only the key is needed (the record's foreign key, the deployment's service): not the whole row.
    entity = Entity.objects.only("pk").filter(pk=entity_id).first() if entity_id else None
    if deployment_ref and (
        entity is None or not Deployment.objects.filter(provider_id=deployment_ref, repository__entity=entity).exists()
    ):
        # A postmortem may blame only the incident's own service's deployments: another team's
        # deployment (or any, for an incident of no service) never becomes a failed change here.
        logger.warning(
            "incident %s/%s names deployment %r, which is not its service's; not linked", source, external_id,
            deployment_ref,
        )  # fmt: skip
        deployment_ref = ""
    try:
        return incident_record(
            source=source,
            external_id=external_id,
            title=title,
            started_at=started_at,
            resolved_at=resolved_at,
            entity=entity,
            deployment_id=deployment_ref,
            url=url,
        )
    except ServiceError:
        logger.warning("incident %s/%s could not be recorded for DORA", source, external_id, exc_info=True)
        return None


# --- history from the providers' APIs ---------------------------------------------------

HISTORY_OVERLAP = timedelta(hours=1)  # a reconcile reads a little before the last one began (clock skew)
HISTORY_SEEN_KEEP = 20_000
HISTORY_LOCK_SECONDS = 3600
HISTORY_BATCH = 100  # changes applied per transaction: a page of the provider's list


@dataclass(frozen=True)
class HistoryResult:
    repository: Repository
    state: str
    applied: int = 0  # runs and deployments new or changed
    requests: int = 0
    message: str = ""


def repository_connect(*, actor, url: str, days: int | None = None) -> Repository:
    """Connect a repository's history: a GitHub or GitLab repository on a configured Git integration.

    The backfill of the last ``days`` (``PIPELINES_BACKFILL_DAYS``) runs in a worker once this commits;
    the periodic reconcile keeps it current afterwards. Connecting again changes the window and reads again.
    """
    from portal.githosts import errors as githost_errors
    from portal.githosts.providers import repository_from_url

    if not permissions.can_manage_integrations(actor):
        raise ServiceError("Only Platform Admins connect repositories.")
    days = settings.PIPELINES_BACKFILL_DAYS if days is None else days
    if not 1 <= days <= 3650:
        raise ServiceError("Read between 1 and 3,650 days of history.")
    try:
        found = repository_from_url((url or "").strip())
    except githost_errors.GitHostError as exc:
        raise ServiceError(str(exc)) from None
    if found.integration.type not in (Provider.GITHUB, Provider.GITLAB):
        raise ServiceError(f"{found.integration.host} is a plain Git host: it has no CI API to read history from.")
    if len(found.slug) > 255:
        raise ServiceError("That repository path is longer than Bridge keeps (255 characters).")
    with transaction.atomic():
        repo = repository_ensure(
            providers.RepoInfo(provider=found.integration.type, slug=found.slug, url=found.web_url)
        )
        repo = Repository.objects.select_for_update().get(pk=repo.pk)
        repo.history_connected = True
        repo.history_days = days
        repo.history_state = HistoryState.QUEUED
        repo.history_error = ""
        repo.history_retry_at = None
        repo.history_synced_at = None  # a new window: read it all again (applied runs are skipped by ``seen``)
        repo.history_etags = {}
        if not repo.url:
            repo.url = found.web_url
        repo.save()
        audit_record(
            actor=actor,
            action="pipelines.repository.connect",
            obj=repo,
            changes={"history_days": [None, days], "url": [None, repo.url]},
        )
        transaction.on_commit(lambda: _queue_history_sync(repo.pk))
    return repo


def repository_disconnect(*, actor, repository_id: int) -> Repository:
    if not permissions.can_manage_integrations(actor):
        raise ServiceError("Only Platform Admins disconnect repositories.")
    with transaction.atomic():
        repo = Repository.objects.select_for_update().filter(pk=repository_id).first()
        if repo is None:
            raise ServiceError("No such repository.")
        if not repo.history_connected:
            raise ServiceError(f"{repo.slug} is not connected.")
        Repository.objects.filter(pk=repo.pk).update(
            history_connected=False, history_state="", history_error="", history_retry_at=None, history_etags={}
        )
        audit_record(actor=actor, action="pipelines.repository.disconnect", obj=repo, changes={})
        repo.refresh_from_db()
    return repo


def _queue_history_sync(repository_id: int, eta: datetime | None = None) -> None:
    from pipelines import tasks

    try:
        if eta is None:
            tasks.sync_repository_history.delay(repository_id)
        else:
            tasks.sync_repository_history.apply_async(args=[repository_id], eta=eta)
    except Exception:  # noqa: BLE001 - the periodic reconcile picks it up; the page says "queued"
        logger.warning("Could not queue the history sync of repository %s", repository_id, exc_info=True)


def repository_history_request(*, actor, repository_id: int) -> Repository:
    """ "Sync now" on the integrations page."""
    if not permissions.can_manage_integrations(actor):
        raise ServiceError("Only Platform Admins sync repositories.")
    repo = Repository.objects.filter(pk=repository_id, history_connected=True).first()
    if repo is None:
        raise ServiceError("That repository is not connected; connect it first.")
    transaction.on_commit(lambda: _queue_history_sync(repo.pk))
    return repo


def _trim_seen(seen: dict) -> dict:
    if len(seen) <= HISTORY_SEEN_KEEP:
        return seen
    newest = sorted(seen.items(), key=lambda item: str(item[1]), reverse=True)[:HISTORY_SEEN_KEEP]
    return dict(newest)


def runs_apply_read(events: Sequence[providers.RunEvent], memo: ProcessingMemo | None = None) -> int:
    """Apply runs read from a provider's API, a page at a time (the history sync's write path); returns how
    many runs were new.

    Runs Bridge does not know yet are written with a few statements per page, whatever its size: the runs in
    one INSERT, all their jobs in another, their commits in a third, then each branch's latest run and the
    pipeline's summaries once. A run Bridge already knows (from a webhook, or an earlier read) goes through
    ``run_upsert``, whose conditional update keeps a newer state and every field the API does not carry, so
    the same run is one row whichever way it came first. Under each pipeline's lock (``_locked_pipeline``,
    as the webhooks take it), so no delivery creates one of these runs in between. Call in a transaction.
    """
    from pipelines.models import Job

    groups: dict[tuple[str, str, str], list[providers.RunEvent]] = {}
    for event in events:
        groups.setdefault((event.repo.provider, event.repo.slug, event.pipeline_name[:255]), []).append(event)
    created = 0
    for (_provider, _slug, name), group in groups.items():
        repo = repository_ensure(group[0].repo, memo)
        pipeline = _locked_pipeline(repo, name)
        known = set(
            Run.objects.filter(pipeline=pipeline, provider_id__in={e.run_id for e in group}).values_list(
                "provider_id", "attempt"
            )
        )
        fresh: list[providers.RunEvent] = []
        again: list[providers.RunEvent] = []  # known runs, and a run listed twice (the list moved between pages)
        for event in group:
            key = (event.run_id, event.attempt)
            (again if key in known else fresh).append(event)
            known.add(key)
        if fresh:
            rows = [
                Run(pipeline=pipeline, provider_id=e.run_id, attempt=e.attempt, **_new_run(e, status_rank(e.status)))
                for e in fresh
            ]
            Run.objects.bulk_create(rows)
            if any(row.pk is None for row in rows):  # a database that does not return the new ids
                ids = {
                    (p, a): pk
                    for p, a, pk in Run.objects.filter(
                        pipeline=pipeline, provider_id__in=[e.run_id for e in fresh]
                    ).values_list("provider_id", "attempt", "pk")
                }
                for row in rows:
                    row.pk = ids[(row.provider_id, row.attempt)]
            Job.objects.bulk_create(
                [job for row, e in zip(rows, fresh, strict=True) for job in _job_rows(row, e.jobs)],
                ignore_conflicts=True,
            )
            _commits_store(repo, [(e.commit_sha, e.commit_at) for e in fresh if e.commit_sha and e.commit_at], memo)
            _branches_refresh(pipeline, rows)
            _pipeline_summary_refresh(pipeline, repo)
            for row, e in zip(rows, fresh, strict=True):
                failed = row.status == RunStatus.FAILED and row.branch and row.branch == repo.default_branch
                if failed and not e.quiet:
                    _notify_default_branch_failure(row, pipeline, repo)
            created += len(rows)
        for event in again:
            run_upsert(event=event, memo=memo)
    return created


def _commits_store(repo: Repository, commits: list[tuple[str, datetime]], memo: ProcessingMemo | None) -> None:
    """``_commit_store`` for many commits: one INSERT, and the deployments still waiting for one of them."""
    found: dict[str, datetime] = {}
    for sha, committed_at in commits:
        sha = sha[:64]
        if memo is not None and (repo.pk, sha) in memo.commits:
            continue
        found.setdefault(sha, committed_at)
    if not found:
        return
    if memo is not None:
        memo.commits.update((repo.pk, sha) for sha in found)
    Commit.objects.bulk_create(
        [Commit(repository=repo, sha=sha, committed_at=at) for sha, at in found.items()], ignore_conflicts=True
    )
    waiting = Deployment.objects.filter(repository=repo, commit_sha__in=list(found), commit_at__isnull=True)
    for sha in set(waiting.values_list("commit_sha", flat=True)):
        Deployment.objects.filter(repository=repo, commit_sha=sha, commit_at__isnull=True).update(commit_at=found[sha])


def _branches_refresh(pipeline: Pipeline, runs: list[Run]) -> None:
    """Each branch's latest run after ``runs`` were created: ``_pipeline_refresh``'s branch rows, for a page."""
    newest: dict[str, Run] = {}
    for run in runs:
        if run.branch:
            current = newest.get(run.branch)
            if current is None or (run.created_at, run.attempt) > (current.created_at, current.attempt):
                newest[run.branch] = run
    if not newest:
        return
    existing = {b.name: b for b in Branch.objects.filter(pipeline=pipeline, name__in=list(newest))}
    Branch.objects.bulk_create(
        [Branch(pipeline=pipeline, name=name, last_run=run) for name, run in newest.items() if name not in existing],
        ignore_conflicts=True,
    )
    for name, branch in existing.items():
        run = newest[name]
        if branch.last_run_id != run.pk:
            Branch.objects.filter(pk=branch.pk, last_run__created_at__lte=run.created_at).update(last_run=run)


def repository_history_sync(*, repository_id: int, http=None) -> HistoryResult:
    """Backfill (first time) or reconcile (later) one connected repository from its provider's API.

    Safe to run twice and from several workers (one at a time per repository; the others return "busy").
    Each run or deployment is applied in its own transaction by the webhook's own services, so what was
    read stays when the host stops answering half-way. Rate-limited: the repository shows "waiting for
    rate limit" until the host's ``retry_at``, when the sync resumes by itself. Nothing new: the lists'
    first pages answer 304 and nothing is written.
    """
    from django.core.cache import caches

    from pipelines import history
    from portal.githosts import errors as githost_errors
    from portal.githosts.integrations import integration_for_url
    from portal.githosts.providers import Repository as GitHostRepository
    from portal.githosts.providers import host_for

    cache = caches[settings.PIPELINES_KICK_CACHE]
    lock = f"pipelines:history:{repository_id}"
    repo = Repository.objects.filter(pk=repository_id, history_connected=True).first()
    if repo is None:
        raise ServiceError("That repository is not connected.")
    if not cache.add(lock, 1, timeout=HISTORY_LOCK_SECONDS):
        return HistoryResult(repo, "busy", message="Another worker is reading this repository's history.")

    def _state(**changes) -> None:
        Repository.objects.filter(pk=repo.pk).update(**changes)
        for key, value in changes.items():
            setattr(repo, key, value)

    try:
        integration = integration_for_url(repo.url) if repo.url else None
        if integration is None or integration.type != repo.provider:
            message = (
                f"No {repo.get_provider_display()} integration for {repo.url or repo.slug}; "
                "a Platform Admin adds one (GIT_INTEGRATIONS or the admin)."
            )
            _state(history_state=HistoryState.FAILED, history_error=message, history_retry_at=None)
            return HistoryResult(repo, HistoryState.FAILED, message=message)
        started = timezone.now()
        since = (
            repo.history_synced_at - HISTORY_OVERLAP
            if repo.history_synced_at
            else started - timedelta(days=repo.history_days)
        )
        window_start = started - timedelta(days=repo.history_days)
        if repo.history_synced_at is None and repo.history_state != HistoryState.SYNCING:
            _state(history_state=HistoryState.SYNCING, history_error="", history_retry_at=None)
        backfill = repo.history_synced_at is None
        if not repo.default_branch:  # the dashboards' "default branch" status needs it; webhooks would have said
            try:
                branch = host_for(integration, http).default_branch(
                    GitHostRepository(integration=integration, slug=repo.slug, clone_url="", web_url=repo.url)
                )
            except githost_errors.RateLimited:
                branch = ""  # the list below meets the same limit and says so
            except githost_errors.GitHostError as exc:
                _state(history_state=HistoryState.FAILED, history_error=str(exc)[:1000])
                return HistoryResult(repo, HistoryState.FAILED, message=str(exc))
            if branch:
                _state(default_branch=branch[:255])
        unfinished, first_page_from = [], None
        if repo.provider == Provider.GITHUB:
            unfinished = list(
                Run.objects.filter(pipeline__repository=repo, status_rank__lt=2, created_at__gte=window_start)
                .order_by("-created_at")
                .values_list("provider_id", "created_at")[:50]
            )
            if unfinished and not backfill:
                first_page_from = (
                    Run.objects.filter(pipeline__repository=repo)
                    .order_by("-created_at")
                    .values_list("created_at", flat=True)[history.PER_PAGE - 1 : history.PER_PAGE]
                    .first()
                )
        # Deployments made by the CI change their run too (whose list is read every time); those made by other
        # tools are looked for every PIPELINES_HISTORY_DEPLOYMENTS_SECONDS, remembered in the cache, not a row.
        deployments_key = f"pipelines:history:deployments:{repo.pk}"
        deployments_due = backfill or cache.get(deployments_key) is None
        reader = history.Reader(
            integration,
            repo.slug,
            repo.url,
            since=since,
            window_start=window_start,
            etags=repo.history_etags,
            seen=repo.history_seen,
            default_branch=repo.default_branch,
            unfinished=unfinished,
            first_page_from=first_page_from,
            deployments_due=deployments_due,
            concurrency=settings.PIPELINES_HISTORY_CONCURRENCY,
            http=http,
        )
        seen = dict(repo.history_seen)
        applied = 0
        memo = ProcessingMemo()
        batch: list = []

        def _apply_batch() -> None:
            # One transaction per batch of changes already read (no request is made inside it): a backfill of
            # thousands of runs commits a hundred times, not thousands, and holds each pipeline's lock briefly.
            nonlocal applied
            events = [event for change in batch for event in change.events]
            runs = [event for event in events if isinstance(event, providers.RunEvent)]
            if backfill:
                for event in runs:
                    event.quiet = True  # months of old failures are no news to anyone
            with transaction.atomic():
                runs_apply_read(runs, memo=memo)
                for event in events:
                    if not isinstance(event, providers.RunEvent):
                        apply_event(event, memo=memo)
            for change in batch:
                seen[change.key] = change.version
                applied += 1 if change.events else 0
            batch.clear()

        try:
            try:
                for change in reader.changes_ahead():  # the next page is read while this one is written
                    batch.append(change)
                    if len(batch) >= HISTORY_BATCH:
                        _apply_batch()
            finally:
                if batch:  # what was read before the host stopped answering is kept
                    _apply_batch()
        except githost_errors.RateLimited as exc:
            _state(
                history_state=HistoryState.WAITING,
                history_retry_at=exc.retry_at,
                history_error=str(exc),
                history_seen=_trim_seen(seen),
            )
            _queue_history_sync(repo.pk, eta=exc.retry_at)
            return HistoryResult(repo, HistoryState.WAITING, applied, reader.requests, str(exc))
        except (githost_errors.GitHostError, providers.PayloadError) as exc:
            _state(history_state=HistoryState.FAILED, history_error=str(exc)[:1000], history_seen=_trim_seen(seen))
            return HistoryResult(repo, HistoryState.FAILED, applied, reader.requests, str(exc))
        finally:
            reader.close()
        if reader.deployments_read:
            cache.set(deployments_key, 1, timeout=settings.PIPELINES_HISTORY_DEPLOYMENTS_SECONDS)
        changes: dict = {}
        if applied or reader.new_etags != repo.history_etags:
            changes.update(history_etags=reader.new_etags, history_seen=_trim_seen(seen), history_synced_at=started)
        if repo.history_state != HistoryState.SYNCED or repo.history_error or repo.history_retry_at:
            changes.update(history_state=HistoryState.SYNCED, history_error="", history_retry_at=None)
        if repo.history_synced_at is None:
            changes.setdefault("history_synced_at", started)
        if changes:  # nothing new (304s): nothing is written
            _state(**changes)
        return HistoryResult(repo, HistoryState.SYNCED, applied, reader.requests)
    finally:
        cache.delete(lock)


def repositories_history_reconcile(*, inline: bool = False, http=None) -> list[HistoryResult] | int:
    """The periodic reconcile: every connected repository that is not waiting for a rate limit.

    Queues one task per repository (``inline``: runs them here, for the management command)."""
    now = timezone.now()
    due = (
        Repository.objects.filter(history_connected=True)
        .filter(Q(history_retry_at__isnull=True) | Q(history_retry_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if inline:
        return [repository_history_sync(repository_id=pk, http=http) for pk in due]
    count = 0
    for pk in due:
        _queue_history_sync(pk)
        count += 1
    return count
