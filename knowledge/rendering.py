"""Markdown to safe HTML: the extensions mkdocs-material writers use, then an allowlist sanitizer.

Rendering is the expensive part, so its result is stored per revision (``RevisionRender``,
see ``selectors.revision_rendered``). Links between pages (``[[Page Title]]`` and relative
``.md`` links) are left as placeholders in the stored HTML and resolved on every view, so a
page created later fixes a broken link without a new revision.
"""

from __future__ import annotations

import functools
import html
import re
import xml.etree.ElementTree as ET  # nosec B405: builds Markdown's trees; never parses input as XML
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import markdown
import nh3
import yaml
from markdown.extensions import Extension
from markdown.extensions.toc import slugify
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from pygments.token import STANDARD_TYPES
from pymdownx import highlight as pymdownx_highlight
from pymdownx import slugs

# Bump when the extensions or the sanitizer's allowlist change: stored renders of another
# version are rendered again when next read, so a tightened allowlist applies to old pages too.
RENDERER_VERSION = "6"
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


def page_link_path(href: str) -> str | None:
    """The page a relative link points to, as mkdocs reads it: ``guide.md``, ``guide.md/`` (same
    page), or a folder ``user-guide/`` (its index.md or README.md); None for anything else."""
    path, _, anchor = href.partition("#")
    if "?" in path and path.partition("?")[0].endswith((".md", ".md/", "/")):
        path = path.partition("?")[0]  # guide.md?h=search+terms: mkdocs-material's search highlighting
    if not path or ":" in path.split("/", 1)[0] or path.startswith(("/", "\\")) or "?" in path:
        return None
    if path.endswith(".md/"):
        path = path[:-1]
    if not (path.endswith(".md") or path.endswith("/") or path in (".", "..")):
        return None
    path = unquote(path)
    if not path.endswith(".md"):
        path = path.rstrip("/") + "/"
    return path + (f"#{anchor}" if anchor else "")


class _RelativeLinkProcessor(Treeprocessor):
    """Mark relative links to pages so they can be resolved to pages."""

    def run(self, root):
        for a in root.iter("a"):
            target = page_link_path(a.get("href", ""))
            if target is not None:
                a.set("data-mdlink", target)
                del a.attrib["href"]


_RAW_PAGE_LINK = re.compile(r'<a\b([^>]*?)\shref="([^"]*)"')


def _as_folder(href: str) -> str:
    """``user-guide/writing`` -> ``user-guide/writing/``: a site URL written by hand, as mkdocs
    serves a page with directory URLs (without the slash the server adds it); a file (with an
    extension) stays as it is."""
    path, hash_, anchor = href.partition("#")
    if not path or path.endswith("/") or "." in path.rsplit("/", 1)[-1]:
        return href
    return f"{path}/{hash_}{anchor}"


def _mark_raw_page_links(sanitized: str) -> str:
    """The same for links written as HTML (``<a href="user-guide/">``), after sanitizing."""

    def repl(m: re.Match) -> str:
        target = page_link_path(_as_folder(html.unescape(m.group(2))))
        if target is None:
            return m.group(0)
        return f'<a{m.group(1)} data-mdlink="{html.escape(target)}"'

    return _RAW_PAGE_LINK.sub(repl, sanitized)


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

# --- icons and emoji, offline ---------------------------------------------------------------

ICON_SETS = ("material", "fontawesome", "octicons", "simple")


@functools.cache
def icons_dir() -> Path | None:
    """The icon sets mkdocs-material ships (installed with the portal), or None without it."""
    try:
        import material
    except ImportError:
        return None
    folder = Path(material.__file__).resolve().parent / "templates" / ".icons"
    return folder if folder.is_dir() else None


@functools.cache
def emoji_index() -> dict:
    """Twemoji's shortcodes plus mkdocs-material's icon shortcodes (``:material-check:``), as
    mkdocs-material's own ``twemoji`` index names them, without reading anything from the network."""
    from pymdownx import twemoji_db

    emoji = dict(twemoji_db.emoji)
    folder = icons_dir()
    if folder is not None:
        for icon_set in ICON_SETS:
            for svg in (folder / icon_set).rglob("*.svg"):
                relative = svg.relative_to(folder).with_suffix("").as_posix()
                name = f":{relative.replace('/', '-')}:"
                if name not in emoji and name not in twemoji_db.aliases:
                    emoji[name] = {"name": name, "path": relative}
    return {"name": "twemoji", "emoji": emoji, "aliases": twemoji_db.aliases}


def _emoji_index(options, md):
    return emoji_index()


def _emoji_element(index, shortname, alias, uc, alt, title, category, options, md):
    """A real emoji is its own character; an icon is an image served by the portal."""
    if uc:
        return alt
    path = emoji_index()["emoji"][shortname]["path"]
    el = ET.Element("img")
    el.set("class", "kb-icon")
    el.set("alt", path.split("/", 1)[-1].replace("/", " ").replace("-", " "))
    el.set("src", f"{ICON_URL_PREFIX}{path}.svg")
    return el


# Where the portal serves the icon sets (knowledge.urls "icon"); stored in rendered pages.
ICON_URL_PREFIX = "/knowledge/icons/"

EXTENSIONS = [
    "admonition",
    "pymdownx.details",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.inlinehilite",
    "tables",
    "footnotes",
    "abbr",
    "attr_list",
    "def_list",
    "md_in_html",
    "toc",
    "sane_lists",
    "pymdownx.tasklist",
    "pymdownx.tabbed",
    "pymdownx.mark",
    "pymdownx.keys",
    "pymdownx.caret",
    "pymdownx.tilde",
    "pymdownx.emoji",
    BridgeLinks(),
]
EXTENSION_CONFIGS = {
    "pymdownx.highlight": {"css_class": "highlight", "guess_lang": False, "use_pygments": True},
    "toc": {"permalink": "¶", "permalink_title": "Link to this section", "toc_depth": "1-4"},
    "pymdownx.tasklist": {"custom_checkbox": False, "clickable_checkbox": False},
    # Tabs get ids from their titles, after the heading above them, as mkdocs-material's docs
    # configure them: links to a tab (#logo-image) work as in the built site.
    "pymdownx.tabbed": {"alternate_style": True, "combine_header_slug": True, "slugify": slugs.slugify(case="lower")},
    "pymdownx.emoji": {"emoji_index": _emoji_index, "emoji_generator": _emoji_element},
    "footnotes": {"BACKLINK_TITLE": "Back to reference %d"},
}

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins", "kbd", "label", "li", "mark", "ol",
    "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title"},
    "a": {"href", "data-wikilink", "data-mdlink"},
    "details": {"open"},
    "img": {"src", "alt", "width", "height"},
    # Content tabs are radio buttons and their labels (no form can hold them: <form> is not allowed).
    "input": {"type", "checked", "disabled", "name"},
    "label": {"for"},
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


def _key_classes() -> set[str]:
    from pymdownx import keymap_db

    return {"keys"} | {f"key-{name}" for name in keymap_db.keymap} | {f"key-{name}" for name in keymap_db.aliases}


ALLOWED_CLASSES = {
    "a": {"footnote-ref", "footnote-backref", "headerlink"},
    "code": {"highlight"},
    "details": ADMONITION_TYPES,
    "div": {"admonition", "highlight", "footnote", "toc", "linenodiv"}
    | ADMONITION_TYPES
    | {"tabbed-set", "tabbed-alternate", "tabbed-labels", "tabbed-content", "tabbed-block"},
    "img": {"kb-icon"},
    "kbd": _key_classes(),
    "li": {"task-list-item"},
    "p": {"admonition-title"},
    "span": PYGMENTS_CLASSES | {"keys"},
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
_TAB_NAME = re.compile(r"__tabbed_\d{1,6}")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "id":
        # Prefix every id, even one already starting with the prefix (a heading "KB file" is
        # "kb-file"), so a page cannot clobber the portal's own DOM; the portal uses no kb- ids.
        return ID_PREFIX + value
    if attr == "href" and value.startswith("#"):
        return "#" + ID_PREFIX + value[1:]
    if tag == "label" and attr == "for":
        return ID_PREFIX + value
    if tag == "input" and attr == "type":
        return value if value in ("checkbox", "radio") else None
    if tag == "input" and attr == "name":
        # Only the names pymdownx.tabbed gives a set of tabs (prefixed like ids).
        return ID_PREFIX + value if _TAB_NAME.fullmatch(value) else None
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
    filter_style_properties={"text-align"},
)
# Tabs need clickable radio buttons; every checkbox (task lists, raw HTML) stays read-only, and
# any other input (a text box: type dropped or missing) goes.
_INPUT = re.compile(r"<input\b[^>]*>")


def _input(m: re.Match) -> str:
    tag = m.group(0)
    if ' type="radio"' in tag:
        return tag
    if ' type="checkbox"' in tag:
        return tag if re.search(r"\sdisabled\b", tag) else '<input disabled=""' + tag[len("<input") :]
    return ""


def sanitize(raw_html: str) -> str:
    return _INPUT.sub(_input, _cleaner.clean(raw_html))


# --- front matter ----------------------------------------------------------------------------

# As mkdocs reads it (mkdocs.utils.meta): YAML between "---" lines at the very top.
_FRONT_MATTER = re.compile(r"\A-{3}[ \t]*\n(.*?\n)(?:\.{3}|-{3})[ \t]*(?:\n|\Z)", re.DOTALL)
META_KEYS = ("title", "description", "tags", "hide", "template")


class _MetaLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.YAMLError("front matter uses YAML anchors or aliases")
        return super().compose_node(parent, index)


def split_front_matter(text: str) -> tuple[dict, str]:
    """(the page's front matter, its Markdown without it). Text that is not a YAML mapping
    (or that uses anchors, aliases or tags) is not front matter: the page shows it as written."""
    m = _FRONT_MATTER.match(text or "")
    if not m:
        return {}, text
    try:
        loader = _MetaLoader(m.group(1))
        try:
            meta = loader.get_single_data()
        finally:
            loader.dispose()
    except (yaml.YAMLError, ValueError):
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return meta, text[m.end() :]


def page_meta(text: str) -> dict:
    """The front-matter settings Bridge uses: title, description, tags (a list of text), hide (a
    list: "toc", "navigation", ...), template; the rest stays in the text for the export."""
    meta, _body = split_front_matter(text)
    out = {}
    for key in ("title", "description", "template"):
        if isinstance(meta.get(key), (str, int, float)) and str(meta[key]).strip():
            out[key] = str(meta[key]).strip()
    for key in ("tags", "hide"):
        value = meta.get(key)
        if isinstance(value, (str, int, float)):
            value = [value]
        if isinstance(value, list):
            out[key] = [str(v).strip() for v in value if isinstance(v, (str, int, float)) and str(v).strip()]
    return out


_PLAIN_STEPS = [
    (re.compile(r"(?m)^[ \t]*(`{3,}|~{3,}).*$"), ""),  # fence lines (the code stays)
    (re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)"), r"\1"),  # images: their text
    (re.compile(r"\[([^\]\n]+)\](\([^)\n]*\)|\[[^\]\n]*\])"), r"\1"),  # links: their text
    (re.compile(r"\[\[([^\]|\n]+)(?:\|([^\]\n]+))?\]\]"), r"\1"),  # wiki-links
    (re.compile(r"</?[A-Za-z][^>\n]{0,300}>"), " "),  # HTML tags
    (re.compile(r"\{:?\s*[#.][^}\n]{0,200}\}"), ""),  # attribute lists
    (re.compile(r"(?m)^[ \t]*(#{1,6}[ \t]+|>[ \t]?|(!!!|\?\?\?\+?|===)[^\n]*$)"), ""),  # headings, quotes, blocks
    (re.compile(r"(?m)^[ \t]*([-*+][ \t]+(\[[ xX]\][ \t]+)?|\d{1,9}[.)][ \t]+)"), ""),  # list items, tasks
    (re.compile(r"(\*\*|__|==|\^\^|~~|\+\+|`+)"), ""),  # emphasis, mark, keys, code
    (re.compile(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])"), ""),
    (re.compile(r":(material|fontawesome|octicons|simple)-[a-z0-9-]+:?|\|"), " "),  # icons, table pipes
    (re.compile(r"\s+"), " "),
]


def plain_text(text: str) -> str:
    """Markdown as a reader sees it, roughly: no front matter, markup or HTML (for snippets)."""
    text = split_front_matter(text)[1]
    for pattern, replacement in _PLAIN_STEPS:
        text = pattern.sub(replacement, text)
    return text.strip()


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: str


def render_markdown(text: str) -> Rendered:
    """Render untrusted Markdown to sanitized HTML (links to pages still unresolved); front matter
    is page settings, not content."""
    _meta, text = split_front_matter(text)
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS, output_format="html")
    body = md.convert(text)
    toc = getattr(md, "toc", "")
    return Rendered(html=_mark_raw_page_links(sanitize(body)), toc=sanitize(toc) if md.toc_tokens else "")


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
        value = html.unescape(m.group(3))
        if kind == "wikilink":
            target, anchor = split_anchor(value)
        else:  # a Markdown link names the id itself (guide.md#meta.social.cards), not a heading's text
            target, _, fragment = value.partition("#")
            target, anchor = target.strip(), ID_PREFIX + fragment if fragment else ""
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


def prose_and_code(text: str) -> tuple[str, str]:
    """(``text`` without its code blocks and code spans, its code blocks with their fence lines):
    to look for syntax in what is not code, and for a fence's own syntax (```` ``` mermaid ````)."""
    prose, code = [], []
    for is_code, chunk in _text_blocks(text):
        (code if is_code else prose).append(chunk if is_code else _CODE_SPAN_RE.sub("", chunk))
    return "".join(prose), "".join(code)


def prose_only(text: str) -> str:
    """``text`` without its code blocks and code spans (to look for syntax in what is not code)."""
    return prose_and_code(text)[0]


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
