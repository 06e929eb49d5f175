"""Scorecards: defining them and computing their results."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog import selectors
from catalog.models import LEVEL_ORDER, Entity, Scorecard, ScorecardResult
from catalog.services.common import CHUNK, _chunks
from portal.permissions import is_platform_admin
from portal.services import PermissionDenied, ServiceError, audit_record


def _applicable(scorecard: Scorecard):
    qs = Entity.objects.all()
    if scorecard.applies_to_kind:
        qs = qs.filter(kind=scorecard.applies_to_kind)
    if scorecard.applies_to_type:
        qs = qs.filter(spec_type__iexact=scorecard.applies_to_type)
    if scorecard.applies_to_tag:
        qs = qs.filter(tag_text__contains=f",{scorecard.applies_to_tag.lower()},")
    return qs


def _score(scorecard: Scorecard, entities: list[Entity], now) -> list[ScorecardResult]:
    from catalog import scorecards as checks

    sources: dict[str, dict | None] = {}
    for rule in scorecard.rules:
        check = checks.CHECKS.get(rule["check"])
        if check and check.source and check.source not in sources:
            provider = checks.data_source(check.source)
            sources[check.source] = provider(entities) if provider else None
    results = []
    for entity in entities:
        outcomes = []
        for rule in scorecard.rules:
            check = checks.CHECKS.get(rule["check"])
            values = sources.get(check.source) if check and check.source else {}
            status, message = checks.evaluate(rule["check"], rule.get("param", ""), entity, values, now)
            outcomes.append(
                {
                    **rule,
                    "title": check.title if check else rule["check"],
                    "status": status,
                    "message": message,
                    "fix": check.fix if check else "",
                }
            )
        # The highest level that has rules, whose rules and those of the levels below fail none
        # ("no data" never fails).
        level = ""
        defined = [lv for lv in LEVEL_ORDER if any(o["level"] == lv for o in outcomes)]
        for candidate in defined:
            below = LEVEL_ORDER[: LEVEL_ORDER.index(candidate) + 1]
            if any(o["status"] == "fail" and o["level"] in below for o in outcomes):
                break
            level = candidate
        results.append(
            ScorecardResult(scorecard=scorecard, entity_id=entity.pk, level=level, outcomes=outcomes, computed_at=now)
        )
    return results


def scorecards_evaluate(*, entity_ids: list[int] | None = None, scorecard_ids: list[int] | None = None) -> int:
    """Recompute scorecard results (all entities, or the given ones); returns how many were written."""
    now = timezone.now()
    written = 0
    scorecards = Scorecard.objects.all()
    if scorecard_ids is not None:
        scorecards = scorecards.filter(pk__in=scorecard_ids)
    for scorecard in scorecards:
        applicable = _applicable(scorecard)
        with transaction.atomic():
            stored = ScorecardResult.objects.filter(scorecard=scorecard)
            if entity_ids is not None:
                stored = stored.filter(entity_id__in=entity_ids)
            previous = dict(stored.values_list("entity_id", "level"))
            if entity_ids is None:
                ScorecardResult.objects.filter(scorecard=scorecard).delete()
                ids = list(applicable.values_list("id", flat=True))
            else:
                ScorecardResult.objects.filter(scorecard=scorecard, entity_id__in=entity_ids).delete()
                ids = list(applicable.filter(pk__in=entity_ids).values_list("id", flat=True))
            for chunk in _chunks(ids):
                entities = list(
                    Entity.objects.filter(pk__in=chunk).only(
                        "id", "kind", "description", "lifecycle", "owner_ref", "links", "spec"
                    )
                )
                results = _score(scorecard, entities, now)
                ScorecardResult.objects.bulk_create(results, batch_size=CHUNK)
                written += len(results)
                by_id = {e.pk: e for e in entities}
                for result in results:
                    if result.entity_id in previous and _level_rank(result.level) < _level_rank(
                        previous[result.entity_id]
                    ):
                        _notify_level_drop(scorecard, by_id[result.entity_id], previous[result.entity_id], result)
    return written


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) + 1 if level in LEVEL_ORDER else 0


def _notify_level_drop(scorecard: Scorecard, entity: Entity, before: str, result: ScorecardResult) -> None:
    from portal.models import NotificationEvent
    from portal.services import notify

    failing = ", ".join(o["title"] for o in result.failing[:5]) or "see the entity page"
    notify(
        users=selectors.owner_team_members(entity),
        event=NotificationEvent.SCORECARD_DROPPED,
        title=f"{entity.name} dropped from {before.title()} to {(result.level or 'no level').title()} "
        f"on {scorecard.name}",
        body=f"Failing: {failing}.",
        url=entity.get_absolute_url(),
        team_refs=[entity.owner_ref] if entity.owner_ref else [],
    )


def _rescore_on_commit(entity_ids: list[int]) -> None:
    """After a change, recompute the scores of the changed entities in the worker (if any scorecard exists)."""
    if not entity_ids or not Scorecard.objects.exists():
        return
    from catalog.tasks import evaluate_scorecards

    ids = None if len(entity_ids) > 5000 else sorted(entity_ids)
    transaction.on_commit(lambda: evaluate_scorecards.delay(entity_ids=ids))


def scorecard_save(
    *,
    actor,
    name: str,
    rules_text: str,
    description: str = "",
    applies_to_kind: str = "",
    applies_to_type: str = "",
    applies_to_tag: str = "",
    scorecard: Scorecard | None = None,
) -> Scorecard:
    """Platform Admins create or change a scorecard; its results are recomputed at once."""
    from catalog import scorecards as checks

    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins define scorecards.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the scorecard a name.")
    try:
        rules = checks.parse_rules(rules_text)
    except ValueError as exc:
        raise ServiceError(str(exc))
    with transaction.atomic():
        if Scorecard.objects.filter(name__iexact=name).exclude(pk=scorecard.pk if scorecard else None).exists():
            raise ServiceError(f"A scorecard named '{name}' exists already.")
        scorecard = scorecard or Scorecard()
        scorecard.name = name
        scorecard.description = description
        scorecard.applies_to_kind = applies_to_kind
        scorecard.applies_to_type = applies_to_type.strip()
        scorecard.applies_to_tag = applies_to_tag.strip().lower()
        scorecard.rules = rules
        scorecard.save()
        audit_record(actor=actor, action="catalog.scorecard.save", obj=scorecard, changes={"rules": rules})
    scorecards_evaluate(scorecard_ids=[scorecard.pk])
    return scorecard


def scorecard_delete(*, actor, scorecard: Scorecard) -> None:
    if not is_platform_admin(actor):
        raise PermissionDenied("Only Platform Admins delete scorecards.")
    with transaction.atomic():
        audit_record(actor=actor, action="catalog.scorecard.delete", obj=scorecard)
        scorecard.delete()
