"""From an alert's labels and annotations to Bridge's service, runbook and severity.

Each rule is a small function so that it can be tested on its own; ``services`` calls them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Case, Max, Q, When
from django.urls import Resolver404, resolve

from catalog.models import Entity
from knowledge import selectors as knowledge

KUBERNETES_ID = "backstage.io/kubernetes-id"
AUTO_RESOLVE = "bridge.io/auto-resolve"
DASHBOARD_ANNOTATIONS = ("bridge.io/dashboard-url", "grafana/dashboard-url")
SERVICE_KINDS = ("Component", "Resource", "System", "API")


def entity_for(labels: dict) -> tuple[Entity | None, str]:
    """The catalog entity an alert is about, and the label that named it ("" when none did).

    The labels of ``INCIDENTS_ENTITY_LABELS`` are tried in order; a value matches an entity's
    name (or a full ref such as ``component:default/checkout-api``) or its
    ``backstage.io/kubernetes-id`` annotation. Groups and Users are never services."""
    for label in settings.INCIDENTS_ENTITY_LABELS:
        value = str(labels.get(label) or "").strip()
        if not value or len(value) > 150:
            continue
        entity = _entity_named(value)
        if entity is not None:
            return entity, label
    return None, ""


def _entity_named(value: str) -> Entity | None:
    candidates = Entity.objects.filter(kind__in=SERVICE_KINDS)
    if ":" in value:
        found = candidates.filter(ref_key=value.lower()).first()
        if found is not None:
            return found
    by_name = list(candidates.filter(name__iexact=value).order_by("namespace", "kind", "pk")[:5])
    if by_name:
        # "default" first, then Components before other kinds: the usual meaning of a bare name.
        by_name.sort(key=lambda e: (e.namespace != "default", e.kind != "Component", e.pk))
        return by_name[0]
    return candidates.filter(**{f"annotations__{KUBERNETES_ID}": value}).order_by("pk").first()


def runbook_for(*, labels: dict, annotations: dict, entity: Entity | None):
    """The runbook for an alert: its ``runbook_url`` annotation when that is a Bridge page, a
    ``runbook`` label naming a page (``space/slug`` or ``slug``), else the service's runbook tagged
    with the alert's name, else the service's only runbook."""
    page = _runbook_from_url(str(annotations.get("runbook_url") or annotations.get("runbook") or ""))
    if page is not None:
        return page
    named = str(labels.get("runbook") or "").strip().strip("/")
    if named:
        key, _, slug = named.rpartition("/")
        page = knowledge.runbook_by_path(key, slug) if key else _only_or_entitys(slug, entity)
        if page is not None:
            return page
    if entity is None:
        return None
    runbooks = knowledge.runbooks_for_entity(entity)
    alertname = str(labels.get("alertname") or "").strip()
    if alertname:
        # One query: the runbooks tagged with the alert's name first, then the others.
        match = Q(tags__name__iexact=alertname) | Q(tags__slug__iexact=alertname)
        runbooks = runbooks.annotate(tagged=Max(Case(When(match, then=1), default=0))).order_by("-tagged", "title")
    first_two = list(runbooks[:2])
    if first_two and getattr(first_two[0], "tagged", 0):
        return first_two[0]
    return first_two[0] if len(first_two) == 1 else None


def _only_or_entitys(slug: str, entity: Entity | None):
    pages = knowledge.runbooks_by_slug(slug)
    if entity is not None:
        mine = pages.filter(entities=entity).first()
        if mine is not None:
            return mine
    found = list(pages[:2])
    return found[0] if len(found) == 1 else None


def _runbook_from_url(url: str):
    """A runbook URL that points at this Bridge (PORTAL_BASE_URL's host, or a path) → its page."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.netloc:
        ours = urlsplit(settings.PORTAL_BASE_URL)
        if parts.netloc.lower() != ours.netloc.lower():
            return None
        prefix = ours.path.rstrip("/")
        path = parts.path[len(prefix) :] if prefix and parts.path.startswith(prefix) else parts.path
    else:
        path = parts.path
    try:
        match = resolve(path or "/")
    except Resolver404:
        return None
    if match.view_name != "knowledge:page":
        return None
    return knowledge.runbook_by_path(match.kwargs.get("key", ""), match.kwargs.get("slug", ""))


def severity_for(labels: dict) -> str:
    """Bridge's severity from the ``severity`` label through ``INCIDENTS_SEVERITY_MAP``."""
    raw = str(labels.get("severity") or labels.get("priority") or "").strip().lower()
    if raw in {"sev1", "sev2", "sev3", "sev4"}:
        return raw
    return settings.INCIDENTS_SEVERITY_MAP.get(raw, settings.INCIDENTS_DEFAULT_SEVERITY)


def auto_resolves(entity: Entity | None) -> bool:
    """Whether an incident of this service resolves itself when its alerts do."""
    annotations = entity.annotations if entity is not None and isinstance(entity.annotations, dict) else {}
    value = str(annotations.get(AUTO_RESOLVE, "")).strip().lower()
    if value in {"true", "yes", "1", "on"}:
        return True
    if value in {"false", "no", "0", "off"}:
        return False
    return settings.INCIDENTS_AUTO_RESOLVE


def dashboard_links(entity: Entity | None) -> list[dict]:
    """Dashboards of a service: ``bridge.io/dashboard-url`` / ``grafana/dashboard-url`` annotations
    and ``metadata.links`` of type or title "dashboard" (http(s) only)."""
    if entity is None:
        return []
    found = []
    annotations = entity.annotations if isinstance(entity.annotations, dict) else {}
    for key in DASHBOARD_ANNOTATIONS:
        url = str(annotations.get(key) or "")
        if url.startswith(("https://", "http://")):
            found.append({"url": url, "title": "Dashboard"})
    for link in entity.links if isinstance(entity.links, list) else []:
        if not isinstance(link, dict):
            continue
        url = str(link.get("url") or "")
        kind = f"{link.get('type', '')} {link.get('title', '')}".lower()
        if "dashboard" in kind and url.startswith(("https://", "http://")):
            found.append({"url": url, "title": str(link.get("title") or "Dashboard")})
    return found
