"""Reads of the catalog, used by this app and by the others."""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Count, QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils.functional import cached_property

from catalog.descriptors import RELATION_TITLES, descriptor_document, dump_yaml, parse_ref
from catalog.models import CatalogVersion, Entity, EntityConflict, Kind, Relation, ScorecardResult, catalog_root
from portal.db import Beside, fetch_row


def teams_of(user) -> QuerySet[Entity]:
    """The catalog Groups the user belongs to: through their linked User entity, and through their
    groups at the identity provider at their last sign-in (``portal.accounts``)."""
    from django.db.models import Q

    from portal.accounts.selectors import idp_team_refs

    if not user or not user.is_authenticated:
        return Entity.objects.none()
    # Subqueries rather than a join: Postgres then checks only the Groups' rows against the person's
    # (indexed) User entity and its hasMember rows, instead of joining every relation (117 ms at 21,200
    # entities, on every page that asks what the person may edit; now well under a millisecond).
    linked = Entity.objects.filter(kind=Kind.USER, portal_user=user).values("pk")
    member_of = Relation.objects.filter(type="hasMember", target__in=linked).values("source_id")
    return Entity.objects.filter(Q(pk__in=member_of) | Q(ref_key__in=idp_team_refs(user)), kind=Kind.GROUP)


IDP_GROUP_ANNOTATION = "bridge.io/idp-group"


def group_refs_for_idp_groups(groups: list[str]) -> list[str]:
    """Groups named like one of the identity provider's groups (case aside), or whose
    ``bridge.io/idp-group`` annotation names one (a comma-separated list is allowed)."""
    wanted = {g.lower() for g in groups}
    refs = []
    for ref, name, notes in Entity.objects.filter(kind=Kind.GROUP, orphaned=False).values_list(
        "ref_key", "name", "annotations"
    ):
        named = str((notes or {}).get(IDP_GROUP_ANNOTATION, ""))
        by_annotation = {part.strip().lower() for part in named.split(",") if part.strip()}
        if name.lower() in wanted or by_annotation & wanted:
            refs.append(ref)
    return refs


def catalog_user_of(user) -> Entity | None:
    """The catalog User linked to a portal account, if any."""
    if not user or not user.is_authenticated:
        return None
    return Entity.objects.filter(kind=Kind.USER, portal_user=user).first()


def claimable_catalog_users(user) -> list[Entity]:
    """Unlinked catalog Users whose profile email is the account's email (see ``can_claim_catalog_user``)."""
    email = (getattr(user, "email", "") or "").strip()
    if not email:
        return []
    return list(
        Entity.objects.filter(
            kind=Kind.USER, portal_user__isnull=True, orphaned=False, spec__profile__email__iexact=email
        ).order_by("namespace", "name")[:10]
    )


def owned_by_teams(teams) -> QuerySet[Entity]:
    return Entity.objects.filter(relations__type="ownedBy", relations__target__in=teams).distinct()


def entities_owned_by_user(user) -> QuerySet[Entity]:
    return owned_by_teams(teams_of(user))


def scorecard_levels(entity_ids) -> dict[int, list[dict]]:
    """Per entity, its scorecards' names and levels (``""``: not even Bronze), in one query."""
    levels: dict[int, list[dict]] = {pk: [] for pk in entity_ids}
    if not levels:
        return levels
    rows = (
        ScorecardResult.objects.filter(entity_id__in=list(levels))
        .order_by("scorecard__name")
        .values_list("entity_id", "scorecard_id", "scorecard__name", "level")
    )
    for entity_id, scorecard_id, name, level in rows:
        levels[entity_id].append({"scorecard_id": scorecard_id, "name": name, "level": level})
    return levels


def entity_by_ref(ref: str, *, default_kind: str | None = None) -> Entity | None:
    """``kind:namespace/name`` (or ``kind:name`` in the default namespace), case-insensitive; None if unknown."""
    try:
        key = parse_ref(ref, default_kind=default_kind, default_namespace="default")
    except ValueError:
        return None
    return Entity.objects.filter(ref_key=key).first()


def _ref_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}:{namespace.lower()}/{name.lower()}"


def entity_by_parts(kind: str, namespace: str, name: str) -> Entity | None:
    return Entity.objects.filter(ref_key=_ref_key(kind, namespace, name)).first()


def _iso_utc(column: str) -> str:
    """A timestamp as the API writes it (``datetime.isoformat`` in UTC, ``Z``): microseconds only when not 0."""
    local = f"{column} AT TIME ZONE 'UTC'"
    return (
        f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {column})::bigint "
        f"%% 1000000 = 0 THEN '' ELSE to_char({local}, '.US') END || 'Z'"
    )


# The API's representation of an entity (``EntitySerializer``), written by PostgreSQL: the JSON columns
# go out as stored, without being parsed into Python objects and encoded again. One parameter: the
# catalog's root URL.
_ENTITY_JSON = (
    "json_build_object("
    "'id', e.id, 'ref', lower(e.kind) || ':' || e.namespace || '/' || e.name, 'api_version', e.api_version, "
    "'kind', e.kind, 'namespace', e.namespace, 'name', e.name, 'title', e.title, 'description', e.description, "
    "'type', e.spec_type, 'lifecycle', e.lifecycle, 'owner', e.owner_ref, 'system', e.system_ref, "
    "'labels', e.labels, 'annotations', e.annotations, 'tags', e.tags, 'links', e.links, 'spec', e.spec, "
    "'orphaned', e.orphaned, 'source', e.source, 'url', %s || e.kind || '/' || e.namespace || '/' || e.name || '/', "
    f"'created_at', {_iso_utc('e.created_at')}, 'updated_at', {_iso_utc('e.updated_at')}"
    ")::text"
)


_ENTITY_JSON_COLUMNS = f"e.id, e.kind, e.namespace, e.name, e.owner_ref, {_ENTITY_JSON}"
_ENTITY_JSON_BY_REF = f'SELECT {_ENTITY_JSON_COLUMNS} FROM "{Entity._meta.db_table}" e WHERE e.ref_key = %s'  # noqa: S608  # nosec B608: constants only
# The same lookup, made in the query that finds the request's API token (one round trip instead of two).
# Its parameters: ``entity_json_beside_params``.
ENTITY_JSON_BESIDE_TOKEN = Beside(
    key="catalog-entity-json-by-ref",
    select=_ENTITY_JSON_COLUMNS,
    join=f'LEFT JOIN "{Entity._meta.db_table}" e ON e.ref_key = %s',
)


def renders_entity_json() -> bool:
    """Whether the database writes the API's entity JSON itself (PostgreSQL); elsewhere the serializer does."""
    return connection.vendor == "postgresql"


def entity_json_by_ids(ids: list[int]) -> list[str]:
    """The API's JSON text of these entities, in the order of ``ids`` (unknown ids left out).

    PostgreSQL only (see ``renders_entity_json``). Pages are found by id first and written second:
    PostgreSQL would otherwise write the JSON of every row it skips to reach a page.
    """
    if not ids:
        return []
    table = Entity._meta.db_table
    sql = f'SELECT e.id, {_ENTITY_JSON} FROM "{table}" e WHERE e.id = ANY(%s)'  # noqa: S608  # nosec B608: constants only
    with connection.cursor() as cursor:
        cursor.execute(sql, [catalog_root(), list(ids)])
        by_id = dict(cursor.fetchall())
    return [by_id[pk] for pk in ids if pk in by_id]


def entity_json_by_ref(kind: str, namespace: str, name: str) -> Entity | None:
    """The entity (its id, kind, namespace, name and owner) with its API JSON text as ``api_json``; None if unknown.

    PostgreSQL only (see ``renders_entity_json``). A written-out query (see ``portal.db``).
    """
    return entity_json_from_row(fetch_row(_ENTITY_JSON_BY_REF, entity_json_beside_params(kind, namespace, name)))


def entity_json_beside_params(kind: str, namespace: str, name: str) -> list:
    """The parameters of ``ENTITY_JSON_BESIDE_TOKEN`` (and of the lookup on its own) for this reference."""
    return [catalog_root(), _ref_key(kind, namespace, name)]


def entity_json_from_row(row) -> Entity | None:
    """The entity of a row of ``ENTITY_JSON_BESIDE_TOKEN``'s columns, as ``entity_json_by_ref`` gives it; None
    when the lookup found none."""
    if not row or row[0] is None:
        return None
    entity = Entity.from_db(DEFAULT_DB_ALIAS, ("id", "kind", "namespace", "name", "owner_ref"), row[:5])
    entity.api_json = row[5]
    return entity


def entity_list() -> QuerySet[Entity]:
    """The list's rows: only the columns the list shows."""
    return Entity.objects.only(
        "id",
        "kind",
        "namespace",
        "name",
        "title",
        "description",
        "spec_type",
        "lifecycle",
        "owner_ref",
        "system_ref",
        "tags",
        "orphaned",
        "updated_at",
    )


class PerVersionCache:
    """Values computed once per catalog version and key in this process: a small LRU, safe across a
    worker's threads. A change to the catalog gives it a new version (``services.catalog_changed``),
    so nothing stale is served and old entries simply age out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: tuple, compute):
        full_key = (version, key)
        with self._lock:
            if full_key in self._values:
                self._values.move_to_end(full_key)
                return self._values[full_key]
        value = compute()
        with self._lock:
            self._values[full_key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_COUNTS = PerVersionCache(512)
# The catalog list page's table with its facets and pages (about 38 KB of text each): the same for everyone
# who may see the list, which is everyone signed in (``permissions.can_view_entity``).
RESULTS_HTML = PerVersionCache(32)


def catalog_version() -> int:
    return CatalogVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def filter_key(params) -> tuple:
    """The filters of a request (page and ordering left out): what counts and facets depend on."""
    return tuple(sorted((k, tuple(sorted(params.getlist(k)))) for k in params if k not in ("page", "ordering")))


def query_key(params) -> tuple:
    """Every parameter of a request, in the order given (its links repeat that order): what a page of
    results depends on."""
    return tuple((k, tuple(params.getlist(k))) for k in params)


def cached_counts(key: tuple, compute, version: int | None = None):
    """``compute()`` once per catalog version and filter key in this process (a small LRU)."""
    return _COUNTS.get(catalog_version() if version is None else version, key, compute)


class CountedPaginator(Paginator):
    """A Paginator that takes its total from the caller (a cached count) when given one."""

    def __init__(self, object_list, per_page, *args, known_count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        return self.known_count if self.known_count is not None else super().count


def list_page(queryset: QuerySet[Entity], number, *, per_page: int, known_count: int | None = None):
    """A page of ``queryset`` whose rows are found by the page's ids, themselves found first in a subquery.

    A deep page in the default order then reads its ids from an index alone (``catalog_entity_name_kind``)
    and only its own rows from the table: reading whole rows, PostgreSQL read every row it skipped
    (page 200 of 424: 14-17 ms, against 2.1 ms). Still one query.
    """
    page = CountedPaginator(queryset, per_page, known_count=known_count).get_page(number)
    first = (page.number - 1) * per_page
    page.object_list = queryset.filter(pk__in=queryset.values("pk")[first : first + per_page])
    return page


FACETS = (("kind", "kind"), ("spec_type", "type"), ("lifecycle", "lifecycle"), ("owner_ref", "owner"))


def facet_counts(queryset: QuerySet[Entity], *, limit: int = 20) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of kind, type, lifecycle and owner over the filtered rows.

    On PostgreSQL one scan with GROUPING SETS; elsewhere one GROUP BY per facet.
    """
    columns = [column for column, _ in FACETS]
    if connection.vendor == "postgresql":
        inner, params = queryset.order_by().values(*columns).query.sql_with_params()
        select = ", ".join(columns)
        sets = ", ".join(f"({c})" for c in columns)
        grouping = ", ".join(f"GROUPING({c})" for c in columns)
        sql = (
            f"SELECT {select}, {grouping}, COUNT(*) FROM ({inner}) AS filtered "  # noqa: S608  # nosec B608: model columns only
            f"GROUP BY GROUPING SETS ({sets})"
        )
        found: dict[str, list[tuple[str, int]]] = {param: [] for _, param in FACETS}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                values, grouped, n = row[: len(columns)], row[len(columns) : 2 * len(columns)], row[-1]
                for index, (_column, param) in enumerate(FACETS):
                    if grouped[index] == 0 and values[index]:
                        found[param].append((values[index], n))
        return {param: sorted(rows, key=lambda r: (-r[1], r[0]))[:limit] for param, rows in found.items()}
    out = {}
    for column, param in FACETS:
        rows = (
            queryset.order_by()
            .exclude(**{column: ""})
            .values_list(column)
            .annotate(n=Count("id"))
            .order_by("-n", column)[:limit]
        )
        out[param] = list(rows)
    return out


@dataclass
class RelationGroup:
    type: str
    title: str
    items: list[Relation]


def relations_of(entity: Entity) -> list[RelationGroup]:
    """The entity's relations grouped by type, one row per target (duplicates from several origins merged)."""
    rows = (
        Relation.objects.filter(source=entity)
        .select_related("target")
        .only("type", "target_ref", "target__kind", "target__namespace", "target__name", "target__title")
        # A person's or team's display name, without loading every target's whole spec (API definitions).
        # (KT("target__spec__...") reads the foreign key column as JSON: the transforms are nested by hand.)
        .annotate(target_profile_name=KeyTextTransform("displayName", KeyTransform("profile", "target__spec")))
        .order_by("type", "target_ref")[:2000]
    )
    groups: dict[str, dict[str, Relation]] = defaultdict(dict)
    for row in rows:
        if row.target is not None:
            row.target.__dict__["_profile_display_name"] = row.target_profile_name
        groups[row.type].setdefault(row.target_ref, row)
    order = list(RELATION_TITLES)
    return [
        RelationGroup(type=t, title=RELATION_TITLES.get(t, t), items=list(groups[t].values()))
        for t in sorted(groups, key=lambda t: order.index(t) if t in order else 99)
    ]


# Seen from an entity: rows of these types point at what it needs (drawn on its right) ...
UPSTREAM = ("dependsOn", "consumesApi", "apiProvidedBy")
# ... and rows of these at what needs it (drawn on its left).
DOWNSTREAM = ("dependencyOf", "apiConsumedBy", "providesApi")


@dataclass
class GraphNode:
    ref: str
    entity: Entity | None
    level: int  # < 0: needs the centre; > 0: needed by the centre


def dependency_graph(entity: Entity, *, depth: int = 2, limit: int = 200) -> dict:
    """Neighbours ``depth`` levels each way, at most ``limit`` of them: one query per level and direction.

    Edges are ``(a, b)``: a depends on b.
    """
    nodes: dict[str, GraphNode] = {entity.ref_key: GraphNode(entity.ref_key, entity, 0)}
    edges: set[tuple[str, str]] = set()
    truncated = False
    for sign, types in ((1, UPSTREAM), (-1, DOWNSTREAM)):
        frontier = [entity.pk]
        for level in range(1, depth + 1):
            if not frontier:
                break
            rows = (
                Relation.objects.filter(source_id__in=frontier, type__in=types)
                .select_related("target")
                .only(
                    "source_ref",
                    "type",
                    "target_ref",
                    "target_id",
                    "target__kind",
                    "target__namespace",
                    "target__name",
                    "target__title",
                    "target__ref_key",
                )
                .order_by("target_ref")[: limit + 1]
            )
            frontier = []
            for row in rows:
                if row.target_ref not in nodes:
                    if len(nodes) > limit:
                        truncated = True
                        continue
                    nodes[row.target_ref] = GraphNode(row.target_ref, row.target, sign * level)
                    if row.target_id:
                        frontier.append(row.target_id)
                edge = (row.source_ref, row.target_ref) if sign > 0 else (row.target_ref, row.source_ref)
                edges.add(edge)
    return {"nodes": nodes, "edges": sorted(edges), "truncated": truncated, "count": len(nodes) - 1}


def kind_choices() -> list[str]:
    return [k.value for k in Kind]


def entity_document(entity: Entity) -> dict:
    """The entity as a Backstage descriptor (what export writes and the YAML view shows)."""
    return descriptor_document(
        api_version=entity.api_version,
        kind=entity.kind,
        namespace=entity.namespace,
        name=entity.name,
        title=entity.title,
        description=entity.description,
        labels=entity.labels,
        annotations=entity.annotations,
        tags=entity.tags,
        links=entity.links,
        spec=entity.spec,
    )


def entity_yaml(entity: Entity) -> str:
    """The descriptor as its author would write it: multi-line text in ``|`` blocks, emoji as emoji."""
    return dump_yaml(entity_document(entity))


def export_yaml(queryset: QuerySet[Entity]) -> Iterator[str]:
    """Multi-document YAML in Backstage's format, one document at a time (the whole catalog streams)."""
    for entity in queryset.order_by("kind", "namespace", "name").iterator(chunk_size=2000):
        yield "---\n" + entity_yaml(entity)


def owner_team_members(entity: Entity) -> list:
    """The portal users in the entity's owning team (its ``spec.owner`` Group), for notifications."""
    from django.contrib.auth import get_user_model

    if not entity.owner_ref:
        return []
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            catalog_user__incoming_relations__type="hasMember",
            catalog_user__incoming_relations__source__kind=Kind.GROUP,
            catalog_user__incoming_relations__source__ref_key=entity.owner_ref,
        )
        .distinct()[:200]
    )


# --- Git locations ------------------------------------------------------------------------------


def location_list(query: str = "", status: str = ""):
    from catalog.models import CatalogLocation

    locations = CatalogLocation.objects.select_related("discovery").order_by("host", "repository", "path", "pk")
    query = (query or "").strip()[:200]
    if query:
        locations = locations.filter(repository__icontains=query) | locations.filter(path__icontains=query)
    if status == "error":
        locations = locations.exclude(error="")
    elif status:
        locations = locations.filter(status=status)
    return locations.defer("files", "last_changes", "problems", "conflicts")


def discovery_list():
    from catalog.models import Discovery

    return list(Discovery.objects.order_by("host", "owner")[:100])


def last_sweep():
    from catalog.models import LocationSweep

    return LocationSweep.objects.filter(pk=1).first()


def entities_of_location(location) -> QuerySet[Entity]:
    return Entity.objects.filter(source__startswith=location.source_prefix).order_by("kind", "namespace", "name")


def location_conflicts(location, limit: int = 200) -> dict[str, list]:
    """A location's conflicts both ways: copies it lists that another source owns, and its entities others list."""
    related = EntityConflict.objects.select_related("entity").only(
        "source", "source_label", "document", "last_seen_at",
        "entity__kind", "entity__namespace", "entity__name", "entity__source", "entity__ref_key",
    )  # fmt: skip
    prefix = location.source_prefix
    return {
        "refused": list(related.filter(source__startswith=prefix).order_by("entity__ref_key")[:limit]),
        "claimed": list(related.filter(entity__source__startswith=prefix).order_by("entity__ref_key")[:limit]),
    }


def source_exists(key: str) -> bool:
    """Is ``key`` a source Bridge knows: one that produced an entity, one refused, or a named upload?"""
    from catalog import sources

    upload = sources.parse_upload(key)
    if upload is not None and upload.scope:
        return True
    return Entity.objects.filter(source=key).exists() or EntityConflict.objects.filter(source=key).exists()


@dataclass
class SourceRow:
    key: str
    entities: int = 0
    orphaned: int = 0
    refused: int = 0  # copies of other sources' entities this source lists (conflicts)

    @property
    def label(self) -> str:
        from catalog import sources

        return sources.label(self.key)


def source_list(query: str = "") -> list[SourceRow]:
    """Every source with how many entities it owns, how many are orphaned, and how many copies were refused."""
    from django.db.models import Q

    rows: dict[str, SourceRow] = {}
    counts = {"n": Count("id"), "o": Count("id", filter=Q(orphaned=True))}
    entities = Entity.objects.order_by().values("source").annotate(**counts)
    refused = EntityConflict.objects.order_by().values("source").annotate(n=Count("id"))
    if query:
        entities = entities.filter(source__icontains=query)
        refused = refused.filter(source__icontains=query)
    for row in entities:
        rows[row["source"]] = SourceRow(row["source"], entities=row["n"], orphaned=row["o"])
    for row in refused:
        rows.setdefault(row["source"], SourceRow(row["source"])).refused = row["n"]
    return sorted(rows.values(), key=lambda r: (r.key == "", r.key))


def source_conflicts(key: str) -> dict[str, QuerySet]:
    """A source's conflicts both ways: copies it listed that another source owns, and its entities others list."""
    related = EntityConflict.objects.select_related("entity").only(
        "source", "source_label", "document", "last_seen_at", "first_seen_at",
        "entity__kind", "entity__namespace", "entity__name", "entity__title", "entity__source", "entity__ref_key",
    )  # fmt: skip
    return {
        "refused": related.filter(source=key).order_by("entity__ref_key"),
        "claimed": related.filter(entity__source=key).order_by("entity__ref_key", "source"),
    }


def orphans() -> QuerySet[Entity]:
    """The orphaned entities, with their sources, in the order the review page lists them."""
    return (
        Entity.objects.filter(orphaned=True)
        .only("kind", "namespace", "name", "title", "source", "owner_ref", "updated_at")
        .order_by("source", "kind", "namespace", "name")
    )
