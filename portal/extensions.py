"""Extension points that other apps fill from their ``AppConfig.ready()``.

``portal`` imports no other app; apps register here instead, so the arrows of
DESIGN.md keep pointing at the core:

- home panels: the boxes on the home page;
- entity tabs: the tabs on a catalog entity page (Docs, Runbooks, ...);
- readiness checks: parts that ``/readyz`` verifies;
- demo seeders: what ``manage.py seed_demo`` creates;
- team providers: the teams a user belongs to;
- search providers: what the global search box finds;
- identity-provider team resolvers: the teams a person's groups at the identity provider give;
- deployment sources: the deployments of a service (pipelines), for postmortems and incidents;
- incident panels: sections of the incident page (alerts, timeline, suspect deployments);
- page panels: sections of a knowledge page or of the knowledge base's front page (a runbook's
  "Start incident" form and its incidents, the open incidents);
- the postmortem link check: whether a person may link a postmortem to an incident (incidents);
- docs spaces: a new service's knowledge space made from its mkdocs project (knowledge, for the
  scaffolder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HomePanel:
    key: str
    title: str
    template: str
    order: int
    context: Callable[[Any], dict]
    visible: Callable[[Any], bool] = lambda user: True


@dataclass(frozen=True)
class EntityTab:
    """A tab on catalog entity pages. ``kinds``: the entity kinds it applies to (None: every kind).

    A tab that cannot apply to a kind (Pipelines on a User) says so here, so that page has no
    empty tab to click.
    """

    key: str
    title: str
    template: str
    order: int
    context: Callable[[Any, Any], dict]
    kinds: tuple[str, ...] | None = None

    def applies_to(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


@dataclass(frozen=True)
class IncidentPanel:
    """A section of the incident page filled by another app: ``context(request, incident)``."""

    key: str
    template: str
    order: int
    context: Callable[[Any, Any], dict]


@dataclass(frozen=True)
class PagePanel:
    """A section of a knowledge page, filled by another app: ``context(request, page)``, where
    ``page`` is None on the knowledge base's front page. ``kinds``: the page kinds it shows on
    ("index" for the front page); ``place``: "side" (beside the text) or "header" (above it)."""

    key: str
    template: str
    order: int
    context: Callable[[Any, Any], dict]
    kinds: tuple[str, ...] = ()
    place: str = "side"


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    kind: str = ""
    snippet: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class SearchProvider:
    """``search(user, query, limit)`` returns the hits this user may see, best first."""

    key: str
    title: str
    order: int
    search: Callable[[Any, str, int], list[SearchHit]]


@dataclass(frozen=True)
class DeploymentInfo:
    """A deployment as other apps see it (pipelines knows them)."""

    ref: str  # the provider's deployment id, what a postmortem names
    entity_id: int | None
    environment: str
    is_production: bool
    status: str
    at: Any  # when it finished (or was created, while it runs)
    commit_sha: str = ""
    url: str = ""
    actor: str = ""


@dataclass(frozen=True)
class DeploymentSource:
    """``recent(entity_id, since, until)`` lists a service's deployments in a window, newest first;
    ``entities_of(ref)`` gives the entity ids of the deployments with that provider id."""

    key: str
    recent: Callable[[int, Any, Any], list[DeploymentInfo]]
    entities_of: Callable[[str], set[int | None]]


@dataclass(frozen=True)
class DocsSpace:
    key: str
    name: str
    url: str
    pages: int


@dataclass(frozen=True)
class DocsSpaces:
    """A service's knowledge space made from its mkdocs project (the knowledge app fills it).

    ``create(actor=, key=, name=, owner=, entity=, files=)`` makes the space owned by the team
    ``owner`` from ``files`` (``mkdocs.yml`` and ``docs/``, path -> bytes), its pages linked to the
    catalog ``entity``, and raises ``portal.services.ServiceError`` with the reason when it cannot;
    ``find(key)`` gives the space or None; ``delete(actor=, key=)`` removes it."""

    create: Callable[..., DocsSpace]
    find: Callable[[str], DocsSpace | None]
    delete: Callable[..., None]


@dataclass
class Registry:
    home_panels: dict[str, HomePanel] = field(default_factory=dict)
    entity_tabs: dict[str, EntityTab] = field(default_factory=dict)
    readiness_checks: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    demo_seeders: dict[str, tuple[int, Callable[[Callable[[str], None]], None]]] = field(default_factory=dict)
    team_providers: list[Callable[[Any], Iterable[Any]]] = field(default_factory=list)
    search_providers: dict[str, SearchProvider] = field(default_factory=dict)
    idp_team_resolvers: list[Callable[[list[str]], Iterable[str]]] = field(default_factory=list)
    deployment_sources: dict[str, DeploymentSource] = field(default_factory=dict)
    incident_panels: dict[str, IncidentPanel] = field(default_factory=dict)
    page_panels: dict[str, PagePanel] = field(default_factory=dict)
    postmortem_link_check: Callable[..., None] | None = None
    docs_spaces: DocsSpaces | None = None


registry = Registry()


def register_incident_panel(panel: IncidentPanel) -> None:
    registry.incident_panels[panel.key] = panel


def incident_panels() -> list[IncidentPanel]:
    return sorted(registry.incident_panels.values(), key=lambda p: p.order)


def register_page_panel(panel: PagePanel) -> None:
    registry.page_panels[panel.key] = panel


def page_panels(kind: str) -> list[PagePanel]:
    """The panels for a page of this kind ("index": the knowledge base's front page), in order."""
    return sorted((p for p in registry.page_panels.values() if kind in p.kinds), key=lambda p: p.order)


def register_postmortem_link_check(check: Callable[..., None]) -> None:
    """``check(actor, incident_id=..., deployment_ref=...)`` raises ``portal.services.PermissionDenied``
    or ``ServiceError`` with the reason when the link is refused."""
    registry.postmortem_link_check = check


def postmortem_link_check(actor, *, incident_id: int, deployment_ref: str) -> None:
    if registry.postmortem_link_check is None:
        from portal.services import ServiceError

        raise ServiceError("Incidents are not installed on this portal, so a postmortem cannot name one.")
    registry.postmortem_link_check(actor, incident_id=incident_id, deployment_ref=deployment_ref)


def register_docs_spaces(spaces: DocsSpaces) -> None:
    registry.docs_spaces = spaces


def docs_spaces() -> DocsSpaces | None:
    """None when no app makes docs spaces (the knowledge base is not installed)."""
    return registry.docs_spaces


def register_deployment_source(source: DeploymentSource) -> None:
    registry.deployment_sources[source.key] = source


def deployments_of(entity_id: int, since, until) -> list[DeploymentInfo]:
    """The service's deployments between ``since`` and ``until``, newest first."""
    found: list[DeploymentInfo] = []
    for source in registry.deployment_sources.values():
        found.extend(source.recent(entity_id, since, until))
    return sorted(found, key=lambda d: d.at, reverse=True)


def deployment_entities(ref: str) -> set[int | None] | None:
    """The entity ids of the deployments named ``ref``; None when no source knows deployments at all."""
    if not registry.deployment_sources:
        return None
    owners: set[int | None] = set()
    for source in registry.deployment_sources.values():
        owners |= source.entities_of(ref)
    return owners


def register_home_panel(panel: HomePanel) -> None:
    registry.home_panels[panel.key] = panel


def register_entity_tab(tab: EntityTab) -> None:
    registry.entity_tabs[tab.key] = tab


def register_readiness_check(name: str, check: Callable[[], str | None]) -> None:
    """``check`` returns None when the part is ready, else what is wrong."""
    registry.readiness_checks[name] = check


def register_demo_seeder(name: str, seeder: Callable[[Callable[[str], None]], None], order: int = 100) -> None:
    """``seeder(log)`` must be idempotent; ``log`` prints a line of progress."""
    registry.demo_seeders[name] = (order, seeder)


def register_team_provider(provider: Callable[[Any], Iterable[Any]]) -> None:
    """``provider(user)`` yields the teams (catalog Groups) the user belongs to."""
    if provider not in registry.team_providers:
        registry.team_providers.append(provider)


def register_search_provider(provider: SearchProvider) -> None:
    registry.search_providers[provider.key] = provider


def search_providers() -> list[SearchProvider]:
    return sorted(registry.search_providers.values(), key=lambda p: p.order)


def home_panels_for(user) -> list[HomePanel]:
    return sorted((p for p in registry.home_panels.values() if p.visible(user)), key=lambda p: p.order)


def entity_tabs(kind: str | None = None) -> list[EntityTab]:
    """The registered tabs in order; with ``kind``, only those that apply to entities of that kind."""
    tabs = sorted(registry.entity_tabs.values(), key=lambda t: t.order)
    return tabs if kind is None else [t for t in tabs if t.applies_to(kind)]


def teams_of(user) -> list[Any]:
    teams: list[Any] = []
    for provider in registry.team_providers:
        teams.extend(provider(user))
    return teams


def register_idp_team_resolver(resolver: Callable[[list[str]], Iterable[str]]) -> None:
    """``resolver(groups)`` yields the refs (``group:namespace/name``) of the teams that a person in
    these identity-provider groups belongs to; sign-in stores them (``OidcIdentity.team_refs``)."""
    if resolver not in registry.idp_team_resolvers:
        registry.idp_team_resolvers.append(resolver)


def teams_for_idp_groups(groups: list[str]) -> list[str]:
    refs: set[str] = set()
    if groups:
        for resolver in registry.idp_team_resolvers:
            refs.update(resolver(groups))
    return sorted(refs)
