"""Built-in scorecard checks, and the data sources other apps provide for some of them.

A check returns ``(status, message)`` with status ``pass``, ``fail`` or
``no_data``. Checks that need data the catalog does not hold (runbooks, docs,
CI runs, deployments) ask a data source that another app registers from its
``AppConfig.ready()``::

    from catalog.scorecards import register_data_source
    register_data_source("runbooks", lambda entities: {e.pk: count for ...})

A data source takes a list of entities and returns ``{entity id: value}``
(one query for all of them). While nobody has registered it, its checks say
"no data" and never fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DataSource = Callable[[list], dict]
_data_sources: dict[str, DataSource] = {}


def register_data_source(name: str, source: DataSource) -> None:
    """``runbooks`` -> count, ``docs`` -> bool, ``ci_success_rate_30d`` -> percent or None,
    ``last_deployed_at`` -> datetime or None; and for the home page, not a check,
    ``default_branch_run`` -> ``{status, style, url, title, at}`` or None, and
    ``firing_alerts`` -> ``{entity pk: number of firing alerts}`` for a list of entities."""
    _data_sources[name] = source


def data_source(name: str) -> DataSource | None:
    return _data_sources.get(name)


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    fix: str
    param: str = ""  # what the parameter means; empty: no parameter
    source: str = ""  # the data source it needs, if any


CHECKS: dict[str, Check] = {
    c.key: c
    for c in [
        Check("has_owner", "Has an owner", "Set spec.owner to the group that owns it."),
        Check("has_description", "Has a description", "Write what it does in metadata.description."),
        Check("lifecycle_set", "Lifecycle set", "Set spec.lifecycle (experimental, production, deprecated)."),
        Check("has_link", "Has a link of a type", "Add a metadata.links entry with this type.", param="link type"),
        Check("api_definition", "API definition present", "Put the API's definition in spec.definition."),
        Check("has_runbook", "Has a runbook", "Write a runbook and link it to this entity.", source="runbooks"),
        Check("has_docs", "Has docs", "Publish docs for it (a docs/ folder and a techdocs-ref).", source="docs"),
        Check(
            "ci_success_rate",
            "CI success rate over 30 days",
            "Fix the failing pipeline runs.",
            param="minimum %",
            source="ci_success_rate_30d",
        ),
        Check(
            "deployed_within",
            "Deployed recently",
            "Deploy it (or retire it).",
            param="days",
            source="last_deployed_at",
        ),
    ]
}


def _param_number(param) -> float | None:
    try:
        return float(param)
    except (TypeError, ValueError):
        return None


def evaluate(check: str, param, entity, source_values: dict, now) -> tuple[str, str]:
    """One rule for one entity; ``source_values`` holds the data source's answer for all entities."""
    spec = entity.spec or {}
    if check == "has_owner":
        return ("pass", "") if entity.owner_ref else ("fail", "No owner.")
    if check == "has_description":
        return ("pass", "") if entity.description.strip() else ("fail", "No description.")
    if check == "lifecycle_set":
        return ("pass", "") if entity.lifecycle else ("fail", "No lifecycle.")
    if check == "has_link":
        types = {str(link.get("type", "")).lower() for link in entity.links}
        return ("pass", "") if str(param).lower() in types else ("fail", f"No link of type '{param}'.")
    if check == "api_definition":
        if entity.kind != "API":
            return "no_data", "Only APIs have a definition."
        definition = spec.get("definition")
        return ("pass", "") if isinstance(definition, str) and definition.strip() else ("fail", "No definition.")
    if source_values is None:
        return "no_data", "No data yet: the part of Bridge that knows this is not installed."
    value = source_values.get(entity.pk)
    if check == "has_runbook":
        return ("pass", "") if value else ("fail", "No runbook.")
    if check == "has_docs":
        return ("pass", "") if value else ("fail", "No docs.")
    if check == "ci_success_rate":
        if value is None:
            return "no_data", "No pipeline runs in the last 30 days."
        minimum = _param_number(param) or 0
        return (
            ("pass", "") if value >= minimum else ("fail", f"{value:.0f} % of runs succeeded; {minimum:.0f} % needed.")
        )
    if check == "deployed_within":
        if value is None:
            return "no_data", "No deployment recorded."
        days = (now - value).days
        limit = _param_number(param) or 0
        return ("pass", "") if days <= limit else ("fail", f"Last deployed {days} days ago; within {limit:.0f} needed.")
    return "no_data", f"Unknown check '{check}'."


def parse_rules(text: str) -> list[dict]:
    """``bronze: has_owner`` / ``gold: ci_success_rate 95``, one a line -> rules; ValueError says which line."""
    from catalog.models import LEVEL_ORDER

    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        level, _, rest = line.partition(":")
        level = level.strip().lower()
        parts = rest.split()
        if level not in LEVEL_ORDER or not parts:
            raise ValueError(f"line {number}: write 'bronze|silver|gold: check [parameter]', not '{raw.strip()}'")
        check = CHECKS.get(parts[0])
        if check is None:
            raise ValueError(f"line {number}: unknown check '{parts[0]}'; known: {', '.join(CHECKS)}")
        param = " ".join(parts[1:])
        if check.param and not param:
            raise ValueError(f"line {number}: {check.key} needs a parameter ({check.param})")
        if check.param in ("minimum %", "days") and _param_number(param) is None:
            raise ValueError(f"line {number}: {check.key} needs a number ({check.param})")
        rules.append({"level": level, "check": check.key, "param": param})
    if not rules:
        raise ValueError("Give at least one rule.")
    return rules


def format_rules(rules: list[dict]) -> str:
    return "\n".join(f"{r['level']}: {r['check']}{(' ' + r['param']) if r.get('param') else ''}" for r in rules)
