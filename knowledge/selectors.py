"""Reads of the knowledge base, used by views, the API and other apps (DORA metrics)."""

from __future__ import annotations

import html
import logging
import posixpath
import re
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Func, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Replace, Substr
from django.utils import timezone

from knowledge.models import Page, PageKind, Revision, RevisionRender, Space
from knowledge.rendering import (
    RENDERER_VERSION,
    Rendered,
    link_targets,
    plain_text,
    render_markdown,
    resolve_links,
)

logger = logging.getLogger(__name__)


def spaces() -> QuerySet[Space]:
    return Space.objects.select_related("owner").order_by("name")


def page_get(space_key: str, slug: str) -> Page | None:
    return (
        Page.objects.select_related("space", "space__owner", "parent", "current_revision", "updated_by")
        .defer("current_revision__body")  # the same text as the page's own body
        .filter(space__key=space_key, slug=slug)
        .first()
    )


def page_tree(space: Space) -> list[tuple[Page, int]]:
    """Every page of the space in navigation order, with its depth (one query)."""
    pages = list(Page.objects.filter(space=space).only("id", "parent_id", "title", "slug", "kind", "position", "space"))
    children: dict[int | None, list[Page]] = {}
    for p in pages:
        children.setdefault(p.parent_id, []).append(p)
    for siblings in children.values():
        siblings.sort(key=lambda p: (p.position, p.title.lower()))
    ids = {p.pk for p in pages}
    out: list[tuple[Page, int]] = []

    def walk(parent_id, depth):
        for p in children.get(parent_id, []):
            out.append((p, depth))
            if depth < 50:
                walk(p.pk, depth + 1)

    walk(None, 0)
    # Pages whose parent is outside the space (should not happen) still show up.
    for p in pages:
        if p.parent_id is not None and p.parent_id not in ids:
            out.append((p, 0))
    for p in out:
        p[0].space = space
    return out


def breadcrumbs(page: Page) -> list[Page]:
    crumbs, node, hops = [], page.parent, 0
    while node is not None and hops < 50:
        crumbs.append(node)
        node, hops = node.parent, hops + 1
    return list(reversed(crumbs))


def revision_rendered(revision_id: int, body: str) -> Rendered:
    """A revision's sanitized HTML: the stored render, or rendered now and stored for everyone after.

    ``body`` must be the revision's body; it is only read when no current render is stored.
    """
    stored = (
        RevisionRender.objects.filter(revision_id=revision_id, renderer_version=RENDERER_VERSION)
        .values_list("html", "toc")
        .first()
    )
    if stored is not None:
        return Rendered(*stored)
    rendered = render_markdown(body)
    row = RevisionRender(
        revision_id=revision_id,
        renderer_version=RENDERER_VERSION,
        html=rendered.html,
        toc=rendered.toc,
        rendered_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            RevisionRender.objects.bulk_create(
                [row],
                update_conflicts=True,
                unique_fields=["revision"],
                update_fields=["renderer_version", "html", "toc", "rendered_at"],
            )
    except DatabaseError:
        # The revision was deleted meanwhile, or the database refused the write: the reader
        # still gets the page, and the next read tries to store it again.
        logger.warning("could not store the render of revision %s", revision_id, exc_info=True)
    return rendered


def page_rendered(page: Page) -> Rendered:
    """The page's HTML with links between pages resolved (broken ones flagged)."""
    if page.current_revision_id:
        rendered = revision_rendered(page.current_revision_id, page.body)
    else:
        rendered = render_markdown(page.body)
    return Rendered(html=resolve_page_links(page, rendered.html), toc=rendered.toc)


def resolve_page_links(page: Page, rendered_html: str) -> str:
    titles, paths = link_targets(rendered_html)
    if not titles and not paths:
        return rendered_html
    base_dir = posixpath.dirname(page.source_path) if page.source_path else ""

    def candidates(value: str) -> list[str]:
        joined = posixpath.normpath(posixpath.join(base_dir, value))
        if not value.endswith("/"):
            return [joined]
        folder = "" if joined == "." else joined + "/"
        # A folder's index, or a page as mkdocs serves it with directory URLs (writing/ is writing.md).
        return [f"{folder}index.md", f"{folder}README.md"] + ([f"{joined}.md"] if folder else [])

    wanted_paths = {c for p in paths for c in candidates(p)}
    stems = {posixpath.splitext(posixpath.basename(p))[0].lower() for p in paths}
    wanted = Q(source_path__in=wanted_paths) | Q(slug__in=stems)
    for title in list(titles)[:200]:
        wanted |= Q(title__iexact=title.strip())
    by_title, by_path, by_slug = {}, {}, {}
    for p in (
        Page.objects.filter(space_id=page.space_id).filter(wanted).only("title", "slug", "source_path", "space_id")
    ):
        p.space = page.space
        by_title.setdefault(p.title.lower(), p)
        if p.source_path:
            by_path[p.source_path] = p
        by_slug[p.slug] = p

    def resolver(kind: str, value: str) -> str | None:
        if kind == "wikilink":
            target = by_title.get(value.strip().lower())
        else:
            target = next((by_path[c] for c in candidates(value) if c in by_path), None)
            if target is None and not value.endswith("/"):
                target = by_slug.get(posixpath.splitext(posixpath.basename(value))[0].lower())
        return target.get_absolute_url() if target is not None else None

    return resolve_links(rendered_html, resolver)


def history(page: Page) -> QuerySet[Revision]:
    """Newest first, without the bodies, so 1,000 revisions page as fast as ten."""
    return Revision.objects.filter(page=page).select_related("author").defer("body").order_by("-number")


def runbooks_for_entity(entity) -> QuerySet[Page]:
    return Page.objects.filter(entities=entity, kind=PageKind.RUNBOOK).select_related("space").order_by("title")


def pages_for_entity(entity) -> QuerySet[Page]:
    return Page.objects.filter(entities=entity).select_related("space").order_by("kind", "title")


def recently_edited(*, kind: str | None = None, limit: int = 10) -> list[Page]:
    qs = Page.objects.select_related("space", "updated_by").order_by("-updated_at")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs[:limit])


# --- runbooks and postmortems (the incidents app reads these) ----------------------------


def runbook_get(runbook_id: int) -> Page | None:
    # Not filtered by kind: a page that stopped being a runbook keeps its incident history.
    return Page.objects.select_related("space").filter(pk=runbook_id).first()


def postmortems_of(incident_id: int) -> QuerySet[Page]:
    return Page.objects.filter(incident_id=incident_id, kind="postmortem")


# --- search --------------------------------------------------------------------------------

# Markers around matches that survive escaping, turned into <mark> afterwards: private-use
# characters, taken out of the text first, so a page that writes ⟦ ⟧ (or these) marks nothing.
_START, _STOP = "\ue000", "\ue001"


@dataclass
class SearchHit:
    page: Page
    snippet: str  # safe HTML: escaped text with <mark> around matches
    rank: float


def _marked(text: str) -> str:
    """Safe HTML of a snippet: its Markdown as plain text, escaped, with the matches marked."""
    return html.escape(plain_text(text)).replace(_START, "<mark>").replace(_STOP, "</mark>")


def _unmarked(text: str) -> str:
    return text.replace(_START, "").replace(_STOP, "")


def _filtered(*, space: str | None, kind: str | None, tag: str | None, entity: int | None) -> QuerySet[Page]:
    qs = Page.objects.select_related("space")
    if space:
        qs = qs.filter(space__key=space)
    if kind:
        qs = qs.filter(kind=kind)
    if tag:
        qs = qs.filter(tags__name=tag)
    if entity:
        qs = qs.filter(entities__pk=entity)
    return qs


@dataclass
class SearchResults:
    """One page of search results and what can be said about all of them."""

    hits: list[SearchHit]
    count: int  # pages that match; when ``count_exact`` is false, more than this many do
    count_exact: bool
    listed: int  # how many of them the results list, in order (the ranked ones): pages reach no further


def search_entities():
    """The catalog entities that have knowledge pages linked, for the search page's filter."""
    from catalog.models import Entity

    return Entity.objects.filter(knowledge_pages__isnull=False).distinct().order_by("kind", "name")


def search_pages(
    *,
    query: str,
    space: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    entity: int | None = None,
    limit: int = 50,
) -> list[SearchHit]:
    return search(query=query, space=space, kind=kind, tag=tag, entity=entity, limit=limit).hits


def search(
    *,
    query: str,
    space: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    entity: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> SearchResults:
    """The results ``offset`` to ``offset + limit``, best first, with how many pages match."""
    query = (query or "").strip()[:200]
    qs = _filtered(space=space, kind=kind, tag=tag, entity=entity)
    offset = max(0, offset)
    if not query:
        total = qs.count()
        # An offset past the end is answered without a query (a huge one does not fit the database).
        newest = qs.order_by("-updated_at", "-pk")[offset : offset + limit] if offset < total else []
        hits = [SearchHit(page=p, snippet="", rank=0.0) for p in newest]
        return SearchResults(hits=hits, count=total, count_exact=True, listed=total)
    if connection.vendor == "postgresql":
        return _search_postgres(qs, query, offset, limit)
    return _search_fallback(qs, query, offset, limit)


@dataclass
class SearchResultsPage:
    """Page ``number`` of the results, ``per_page`` to a page (numbered from 1)."""

    results: SearchResults
    number: int
    per_page: int
    asked: int  # the page number asked for: past the end, ``number`` is the last page or beyond

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.results.listed // self.per_page))

    @property
    def past_the_end(self) -> bool:
        return self.asked > self.num_pages

    def has_previous(self) -> bool:
        return self.number > 1

    def has_next(self) -> bool:
        return self.number < self.num_pages

    def previous_page_number(self) -> int:
        return min(self.number - 1, self.num_pages)

    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.results.hits else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.results.hits)


def search_page(*, number: int, per_page: int, to_last_page: bool = True, **search_args) -> SearchResultsPage:
    """Page ``number`` of ``search(**search_args)``. Past the end: the last page when
    ``to_last_page``, else that page, empty."""
    number = max(1, number)
    results = search(offset=(number - 1) * per_page, limit=per_page, **search_args)
    page = SearchResultsPage(results=results, number=number, per_page=per_page, asked=number)
    if page.past_the_end and to_last_page and results.listed:
        # Rare (an edited URL, or results gone since): a second search rather than a count first on every search.
        page.number = page.num_pages
        page.results = search(offset=(page.number - 1) * per_page, limit=per_page, **search_args)
    return page


RANK_ALL_UP_TO = 1000  # up to this many matches are all ranked; beyond, a bounded set of candidates
RANKED_CANDIDATES = 500
COMMON_FROM = 5000  # this many matches make a query common (see below)
HEADLINE_SOURCE_CHARS = 5_000  # snippets come from the start of long pages
# Results show their revision number (API); one query for all of them, without their text.
_REVISION_NUMBERS = Prefetch("current_revision", queryset=Revision.objects.only("pk", "number"))


def _count_and_newest(matches: QuerySet[Page], *, up_to: int, newest: int) -> tuple[int, list[int]]:
    """How many pages match (counting stops at ``up_to``) and the ``newest`` most recently edited
    of those counted, in one pass through the text index.

    PostgreSQL underrates reading a page's search vector (a few kilobytes, stored apart). Left to
    itself it finds the newest matches by walking pages newest first, or counts them with a
    sequential scan that stops early, and either reads the vector of every page it passes: slow
    when a few percent of pages match. So the query reads the matches through the index.
    """
    gathered = matches.order_by().values(match_id=F("pk"), match_updated_at=F("updated_at"))[:up_to]
    sql, params = gathered.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # The inner query is Django's own, compiled with its values as parameters.
        outer = f"SELECT match_id, count(*) OVER () FROM ({sql}) AS gathered"  # noqa: S608  # nosec B608
        cursor.execute(outer + " ORDER BY match_updated_at DESC LIMIT %s", [*params, newest])
        rows = cursor.fetchall()
        # Inside an outer transaction the setting would outlive this block.
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")
    return (rows[0][1] if rows else 0), [row[0] for row in rows]


def _search_postgres(qs, query: str, offset: int, limit: int) -> SearchResults:
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector

    sq = SearchQuery(query, search_type="websearch", config="english")
    matches = qs.filter(search_vector=sq)
    found, newest = _count_and_newest(matches, up_to=COMMON_FROM + 1, newest=RANKED_CANDIDATES)
    listed = found
    if found > RANK_ALL_UP_TO:
        # Ranking every match costs a search-vector read each. So rank the pages that match in
        # their title (indexed) and the most recently edited matches.
        in_title = (
            qs.annotate(title_vector=SearchVector("title", config="english"))
            .filter(title_vector=sq)
            .order_by()  # any of them: ordering would make PostgreSQL walk every page instead of the index
            .values_list("pk", flat=True)[:RANKED_CANDIDATES]
        )
        if found > COMMON_FROM:
            # The newest of all matches, not of those counted. With this many, walking the pages
            # newest first meets enough of them within a few thousand pages.
            newest = matches.order_by("-updated_at").values_list("pk", flat=True)[:RANKED_CANDIDATES]
        candidates = set(in_title) | set(newest)
        listed = len(candidates)
        matches = qs.filter(pk__in=candidates)
    results = SearchResults(hits=[], count=min(found, COMMON_FROM), count_exact=found <= COMMON_FROM, listed=listed)
    if offset >= listed:
        return results
    rows = (
        matches.defer("body")  # results show a headline, not the text
        .annotate(rank=SearchRank(F("search_vector"), sq))
        .order_by("-rank", "-updated_at", "-pk")  # the same order on every page: none shown twice
        .prefetch_related(_REVISION_NUMBERS)[offset : offset + limit]
    )
    # Headlines only for the page of results shown, not for every match.
    rows = list(rows)
    if not rows:
        return results
    headlines = dict(
        Page.objects.filter(pk__in=[r.pk for r in rows])
        .annotate(
            headline=SearchHeadline(
                # PostgreSQL parses the whole text for a headline: about 25 ms for 200 KB.
                Func(
                    Replace(Replace(Substr("body", 1, HEADLINE_SOURCE_CHARS), Value(_START)), Value(_STOP)),
                    Value(r"^-{3}[ \t]*\n.*?\n(-{3}|\.{3})[ \t]*\n"),  # front matter: settings, not text
                    Value(""),
                    function="regexp_replace",
                ),
                sq,
                config="english",
                start_sel=_START,
                stop_sel=_STOP,
                max_words=30,
                min_words=10,
                max_fragments=2,
                fragment_delimiter=" … ",
            )
        )
        .values_list("pk", "headline")
    )
    results.hits = [SearchHit(page=r, snippet=_marked(headlines.get(r.pk) or ""), rank=float(r.rank)) for r in rows]
    return results


def _search_fallback(qs, query: str, offset: int, limit: int) -> SearchResults:
    """SQLite: every word must appear in the title or body; title matches rank first."""
    words = [w for w in re.split(r"\s+", query) if w][:8]
    cond = Q()
    for w in words:
        cond &= Q(title__icontains=w) | Q(body__icontains=w)
    matching = qs.filter(cond).distinct().prefetch_related(_REVISION_NUMBERS)
    in_title = Q()
    for w in words:
        in_title &= Q(title__icontains=w)
    candidates = {p.pk: p for p in matching.order_by("-updated_at")[:RANKED_CANDIDATES]}
    candidates.update((p.pk, p) for p in matching.filter(in_title).order_by("-updated_at")[:RANKED_CANDIDATES])
    ranked = []
    for page in candidates.values():
        rank = sum(2.0 for w in words if w.lower() in page.title.lower()) + sum(
            min(page.body.lower().count(w.lower()), 10) * 0.1 for w in words
        )
        ranked.append((rank, page))
    ranked.sort(key=lambda r: (-r[0], -r[1].updated_at.timestamp(), -r[1].pk))
    hits = [
        SearchHit(page=page, snippet=_fallback_snippet(page.body, words), rank=rank)
        for rank, page in ranked[offset : offset + limit]
    ]
    total = matching.count() if len(candidates) >= RANKED_CANDIDATES else len(candidates)
    return SearchResults(hits=hits, count=total, count_exact=True, listed=len(ranked))


def _fallback_snippet(body: str, words: list[str]) -> str:
    body = plain_text(_unmarked(body))
    lower = body.lower()
    pos = min((i for i in (lower.find(w.lower()) for w in words) if i >= 0), default=0)
    start = max(0, pos - 80)
    text = body[start : start + 240]
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    text = pattern.sub(lambda m: _START + m.group(0) + _STOP, text)
    return ("… " if start else "") + _marked(text) + (" …" if start + 240 < len(body) else "")


def runbook_by_path(key: str, slug: str) -> Page | None:
    """The runbook at ``/knowledge/s/<key>/p/<slug>/`` (alerts name their runbook by URL)."""
    return Page.objects.select_related("space").filter(space__key=key, slug=slug, kind=PageKind.RUNBOOK).first()


def runbooks_by_slug(slug: str) -> QuerySet[Page]:
    return Page.objects.select_related("space").filter(slug=slug, kind=PageKind.RUNBOOK).order_by("pk")
