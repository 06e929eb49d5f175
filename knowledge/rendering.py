"""Markdown to safe HTML: the extensions mkdocs-material writers use, then an allowlist sanitizer.

Rendering is the expensive part, so its result is stored per revision (``RevisionRender``,
see ``selectors.revision_rendered``). Links between pages (``[[Page Title]]`` and relative
``.md`` links) are left as placeholders in the stored HTML and resolved on every view, so a
page created later fixes a broken link without a new revision.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET  # nosec B405: builds Markdown's trees; never parses input as XML
from dataclasses import dataclass
from urllib.parse import unquote

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from pygments.token import STANDARD_TYPES
from pymdownx import highlight as pymdownx_highlight

# Bump when the extensions or the sanitizer's allowlist change: stored renders of another
# version are rendered again when next read, so a tightened allowlist applies to old pages too.
RENDERER_VERSION = "4"
ID_PREFIX = "kb-"

# Not before "(": ``[[1]](url)`` is a Markdown link whose text is "[1]".
WIKILINK_RE = r"\[\[([^\[\]\|\n]{1,200})(?:\|([^\[\]\n]{1,200}))?\]\](?!\()"
TASK_RE = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s+(.+?)\s*$")


class _WikiLinkProcessor(InlineProcessor):
    def handleMatch(self, m, data):  # noqa: N802 (Python-Markdown's name)
        target = m.group(1).strip()
        label = (m.group(2) or m.group(1)).strip()
        el = ET.Element("a")
        el.set("data-wikilink", target)
        el.text = label
        return el, m.start(0), m.end(0)


class _RelativeLinkProcessor(Treeprocessor):
    """Mark relative links to ``.md`` files so they can be resolved to pages."""

    def run(self, root):
        for a in root.iter("a"):
            href = a.get("href", "")
            path = href.split("#", 1)[0]
            if path and ":" not in path and not path.startswith(("/", "//")) and path.endswith(".md"):
                a.set("data-mdlink", unquote(href))
                del a.attrib["href"]


class BridgeLinks(Extension):
    def extendMarkdown(self, md):  # noqa: N802
        # Before "link" (160) so [[x]] is not read as a reference link.
        md.inlinePatterns.register(_WikiLinkProcessor(WIKILINK_RE, md), "bridge_wikilink", 175)
        md.treeprocessors.register(_RelativeLinkProcessor(md), "bridge_mdlinks", 0)


class _CachedStylesheetFormatter(pymdownx_highlight.BlockHtmlFormatter):
    """Pygments builds a stylesheet in every formatter, and pymdownx makes one per code block (a
    page with hundreds of blocks spent a quarter of its render there): build it once per style."""

    _stylesheets: dict = {}

    def _create_stylesheet(self):
        key = (self.style, self.classprefix)
        if key not in self._stylesheets:
            super()._create_stylesheet()
            self._stylesheets[key] = (self.ttype2class, self.class2style)
        self.ttype2class, self.class2style = self._stylesheets[key]


# pymdownx.highlight looks the class up when it highlights each block; the subclass only
# shares the (read-only) stylesheet, so its output is the same.
pymdownx_highlight.BlockHtmlFormatter = _CachedStylesheetFormatter

EXTENSIONS = [
    "admonition",
    "pymdownx.details",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "tables",
    "footnotes",
    "abbr",
    "toc",
    "sane_lists",
    "pymdownx.tasklist",
    BridgeLinks(),
]
EXTENSION_CONFIGS = {
    "pymdownx.highlight": {"css_class": "highlight", "guess_lang": False, "use_pygments": True},
    "toc": {"permalink": "¶", "permalink_title": "Link to this section", "toc_depth": "1-4"},
    "pymdownx.tasklist": {"custom_checkbox": False, "clickable_checkbox": False},
    "footnotes": {"BACKLINK_TITLE": "Back to reference %d"},
}

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "label", "li", "mark", "ol",
    "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title"},
    "a": {"href", "data-wikilink", "data-mdlink"},
    "details": {"open"},
    "img": {"src", "alt", "width", "height"},
    "input": {"type", "checked", "disabled"},
    "ol": {"start"},
    "td": {"align", "colspan", "rowspan", "style"},
    "th": {"align", "colspan", "rowspan", "style"},
}
# Only the classes the extensions above emit, so a page cannot dress up as the portal's own
# messages and buttons (class="message-error", "button primary").
ADMONITION_TYPES = {
    "note", "abstract", "summary", "tldr", "info", "todo", "tip", "hint", "important", "success", "check",
    "done", "question", "help", "faq", "warning", "caution", "attention", "failure", "fail", "missing",
    "danger", "error", "bug", "example", "quote", "cite", "inline", "end",
}  # fmt: skip
PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name} | {"hll", "filename", "normal", "linenos"}
ALLOWED_CLASSES = {
    "a": {"footnote-ref", "footnote-backref", "headerlink"},
    "details": ADMONITION_TYPES,
    "div": {"admonition", "highlight", "footnote", "toc", "linenodiv"} | ADMONITION_TYPES,
    "li": {"task-list-item"},
    "p": {"admonition-title"},
    "span": PYGMENTS_CLASSES,
    "table": {"highlighttable"},
    "td": {"linenos", "code"},
    "th": {"filename"},
    "ul": {"task-list"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "poster", "background", "longdesc", "srcset"}
# data: URLs are refused everywhere except raster images inlined in <img src> (no SVG: it can script).
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=]+", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\x00-\x20]")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "id":
        # Prefix every id, even one already starting with the prefix (a heading "KB file" is
        # "kb-file"), so a page cannot clobber the portal's own DOM; the portal uses no kb- ids.
        return ID_PREFIX + value
    if attr == "href" and value.startswith("#"):
        return "#" + ID_PREFIX + value[1:]
    if tag == "input" and attr == "type":
        return "checkbox" if value == "checkbox" else None
    if attr in URL_ATTRIBUTES:
        # Browsers ignore tabs, newlines and control characters in URLs ("da\tta:" is "data:").
        compact = _URL_NOISE.sub("", value).lower()
        if compact.startswith("data:"):
            if tag == "img" and attr == "src" and _DATA_IMAGE.fullmatch(_URL_NOISE.sub("", value)):
                return value
            return None
    return value


_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags={"script", "style"},
    attributes=ALLOWED_ATTRIBUTES,
    allowed_classes=ALLOWED_CLASSES,
    attribute_filter=_attribute_filter,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer",
    set_tag_attribute_values={"input": {"disabled": "disabled"}},
    filter_style_properties={"text-align"},
)


def sanitize(raw_html: str) -> str:
    return _cleaner.clean(raw_html)


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: str


def render_markdown(text: str) -> Rendered:
    """Render untrusted Markdown to sanitized HTML (links to pages still unresolved)."""
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS, output_format="html")
    body = md.convert(text)
    toc = getattr(md, "toc", "")
    return Rendered(html=sanitize(body), toc=sanitize(toc) if md.toc_tokens else "")


_PLACEHOLDER_RE = re.compile(r'<a\b([^>]*?)\sdata-(wikilink|mdlink)="([^"]*)"([^>]*)>')


def split_anchor(value: str) -> tuple[str, str]:
    """``Deploy guide#Roll back`` -> (``Deploy guide``, ``kb-roll-back``): the page to look up,
    and the id its heading has (the slug the toc extension gives it, with our prefix)."""
    target, _, anchor = value.partition("#")
    anchor = slugify(anchor.strip(), "-")
    return target.strip(), ID_PREFIX + anchor if anchor else ""


def link_targets(rendered_html: str) -> tuple[set[str], set[str]]:
    """The page titles and relative .md paths a rendered page links to (without #anchors)."""
    titles, paths = set(), set()
    for _before, kind, value, _after in _PLACEHOLDER_RE.findall(rendered_html):
        target, _anchor = split_anchor(html.unescape(value))
        if target:
            (titles if kind == "wikilink" else paths).add(target)
    return titles, paths


def resolve_links(rendered_html: str, resolver) -> str:
    """Replace placeholders: ``resolver(kind, target)`` returns a URL or None when broken."""

    def replace(m: re.Match) -> str:
        kind = m.group(2)
        target, anchor = split_anchor(html.unescape(m.group(3)))
        if not target and anchor:
            return f'<a class="wikilink" href="#{html.escape(anchor)}">'
        url = resolver(kind, target) if target else None
        if url is None:
            return (
                f'<a class="wikilink broken" title="{html.escape("No page called " + target + " yet")}" '
                f'aria-label="{html.escape(target + " (missing page)")}">'
            )
        if anchor:
            url = f"{url}#{anchor}"
        return f'<a class="wikilink" href="{html.escape(url)}">'

    return _PLACEHOLDER_RE.sub(replace, rendered_html)


_FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


def _text_blocks(text: str):
    """``text`` cut into (is_code, chunk) pieces, in order: fenced code (also indented, in lists and
    admonitions; closed only by a fence at least as long, of the same character) and indented
    code blocks (four spaces or a tab after a blank line, outside lists) are code."""
    fence, code_lines, prose, in_list, blank_before = "", [], [], False, True

    def flush(kind):
        nonlocal code_lines, prose
        chunk = code_lines if kind else prose
        if chunk:
            yield kind, "".join(chunk)
        if kind:
            code_lines = []
        else:
            prose = []

    for line in text.splitlines(keepends=True):
        m = _FENCE_RE.match(line)
        if fence:
            code_lines.append(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
                fence = ""
                yield from flush(True)
            continue
        if m:
            yield from flush(False)
            fence = m.group(1)
            code_lines.append(line)
            continue
        stripped = line.strip()
        indented = line.startswith(("    ", "\t"))
        if indented and stripped and not in_list and (blank_before or code_lines):
            if not code_lines:
                yield from flush(False)
            code_lines.append(line)
            continue
        if code_lines and not stripped:
            code_lines.append(line)
            continue
        yield from flush(True)
        if stripped:
            if re.match(r"\s{0,3}([-*+]|\d{1,9}[.)])\s", line) or re.match(r"\s{0,3}(!!!|\?\?\?\+?|===)", line):
                in_list = True  # list items and admonitions/tabs: their indented lines are their content
            elif not indented and blank_before:
                in_list = False
        blank_before = not stripped
        prose.append(line)
    yield from flush(True)
    yield from flush(False)


def sub_outside_code(pattern: re.Pattern, repl, text: str) -> str:
    """``pattern.sub(repl, text)`` everywhere but in code: fenced and indented code blocks and
    inline code spans keep what is written in them (``if [[ -f x ]]``, TOML ``[[servers]]``)."""
    out = []
    for is_code, chunk in _text_blocks(text):
        if is_code:
            out.append(chunk)
            continue
        last = 0
        for span in _CODE_SPAN_RE.finditer(chunk):
            out.append(pattern.sub(repl, chunk[last : span.start()]))
            out.append(span.group(0))
            last = span.end()
        out.append(pattern.sub(repl, chunk[last:]))
    return "".join(out)


def task_steps(text: str) -> list[str]:
    """The task-list items (``- [ ] step``) of a runbook, in order, skipping code blocks the way
    superfences reads them: a fence (also indented, in a list or admonition) closes only with at
    least as many of the same character, so a ```` block can show a ``` block with tasks."""
    steps = []
    fence = ""
    for line in text.splitlines():
        m = _FENCE_RE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
                fence = ""
            continue
        if m:
            fence = m.group(1)
            continue
        m = TASK_RE.match(line)
        if m:
            steps.append(m.group(2)[:1000])
    return steps
