"""What the global search finds in the knowledge base: pages and runbooks, ranked."""

import html

from knowledge import selectors
from portal.extensions import SearchHit


def _plain(snippet: str) -> str:
    """The text of a knowledge snippet (escaped HTML with <mark>): the global search escapes it itself."""
    return html.unescape(snippet.replace("<mark>", "").replace("</mark>", ""))


def search_knowledge(user, query: str, limit: int) -> list[SearchHit]:
    # Every signed-in user reads every space, so no per-page filter is needed here.
    return [
        SearchHit(
            title=hit.page.title,
            url=hit.page.get_absolute_url(),
            kind=hit.page.get_kind_display(),
            snippet=_plain(hit.snippet),
        )
        for hit in selectors.search_pages(query=query, limit=limit)
    ]
