"""The yardstick of the mkdocs import: two real projects (mkdocs' own docs and mkdocs-material's,
kept under ``projects/`` with their SOURCE) come in, read well, and go back out unchanged.

The reference is ``mkdocs build`` of the project's own folder with its own mkdocs.yml, less only
the settings Bridge refuses (hooks, ``!ENV``, plugins and extensions off its lists, custom_dir)."""

import html
import io
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

from knowledge import services
from knowledge.mkdocs_project import TEMPLATE_STAND_IN, _name_of, _SafeName, load_config, read_project
from knowledge.models import Attachment, Page
from knowledge.rendering import page_meta
from knowledge.selectors import page_rendered, page_tree

PROJECTS = Path(__file__).parent / "projects"
LITERALS = ("===", "{ #", "{#", ":material-", ":octicons-", ":fontawesome-")


class _Ids(HTMLParser):
    """Heading ids, link targets outside code, image sources of an HTML page, and its text outside code."""

    def __init__(self):
        super().__init__()
        self.headings, self.ids, self.links, self.images, self.text, self._code = [], set(), [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id") and not attrs["id"].endswith("ModalLabel"):
            self.headings.append(attrs["id"])
        if tag == "a" and attrs.get("href") and not self._code:  # not line-number anchors in code
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag in ("code", "pre", "script", "style"):
            self._code += 1

    def handle_endtag(self, tag):
        if tag in ("code", "pre", "script", "style"):
            self._code = max(0, self._code - 1)

    def handle_data(self, data):
        if not self._code:
            self.text.append(data)


def _parse(text: str) -> _Ids:
    parser = _Ids()
    parser.feed(text)
    return parser


def _zip(folder: Path) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    buffer.seek(0)
    return buffer


def _mkdocs_build(config: Path, site: Path, *, strict: bool) -> tuple[bool, str]:
    command = [sys.executable, "-I", "-m", "mkdocs", "build", "--clean", "-f", str(config), "-d", str(site)]
    proc = subprocess.run(  # noqa: S603 (an argument list, no shell)
        command + (["--strict"] if strict else []), capture_output=True, text=True, timeout=600, check=False
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


class _ConfigDumper(yaml.SafeDumper):
    """Writes the Python names mkdocs.yml may give (emoji, slugify) back as the tags they were."""


_ConfigDumper.add_representer(
    _SafeName,
    lambda dumper, name: (
        dumper.represent_mapping(name.tag, name.arguments) if name.arguments else dumper.represent_scalar(name.tag, "")
    ),
)


def _theme_templates(theme_name: str) -> Path:
    if theme_name == "material":
        import material

        return Path(material.__file__).resolve().parent / "templates"
    import mkdocs.themes

    return Path(mkdocs.themes.__file__).resolve().parent / theme_name


def _reference_site(root: Path, tmp: Path) -> tuple[Path, dict, str]:
    """``mkdocs build`` of the project's own folder and mkdocs.yml, without the settings Bridge
    refuses (load_config(drop_refused=True) leaves them out) and without plugins that are not
    installed here (printed). Returns the site, the config used and the build log."""
    config = load_config(root, drop_refused=True)
    dropped = config.pop("_dropped")
    config.pop("_config_path")
    docs = config.pop("_docs_path")
    config["docs_dir"] = str(docs)
    installed = {entry.name for entry in entry_points(group="mkdocs.plugins")}
    missing = [_name_of(p) for p in config["plugins"] if _name_of(p) not in installed]
    config["plugins"] = [p for p in config["plugins"] if _name_of(p) in installed]
    print(f"\nreference build of {root.name}: without {[str(r) for r in dropped]}; plugins not installed: {missing}")
    # Templates a page names (template: home.html) came from the refused custom_dir: a stand-in
    # that is the theme's main.html, as the export writes one.
    theme = config.get("theme") or "mkdocs"
    theme = {"name": theme} if isinstance(theme, str) else theme
    stand_ins = tmp / "reference-templates"
    stand_ins.mkdir(parents=True, exist_ok=True)
    for page in docs.rglob("*.md"):
        template = page_meta(page.read_text(encoding="utf-8")).get("template")
        if template and not (_theme_templates(theme["name"]) / template).is_file():
            (stand_ins / template).write_text(TEMPLATE_STAND_IN)
    config["theme"] = {**theme, "custom_dir": str(stand_ins)}
    cfg = tmp / "reference.yml"
    cfg.write_text(yaml.dump(config, Dumper=_ConfigDumper, allow_unicode=True, sort_keys=False))
    ok, log = _mkdocs_build(cfg, tmp / "reference-site", strict=False)
    assert ok, log
    return tmp / "reference-site", config, log


def _built_path(source: str, use_directory_urls: bool) -> str:
    """Where mkdocs writes the page of a Markdown file (``a/b.md`` -> ``a/b/index.html``)."""
    stem = re.sub(r"(^|/)(index|README)$", r"\1index", source[:-3])
    if stem == "index" or stem.endswith("/index") or not use_directory_urls:
        return stem + ".html"
    return stem + "/index.html"


# The page's own content in the material and mkdocs themes (not the navigation, search or footer).
_CONTENT = re.compile(
    r'<article class="md-content__inner md-typeset">(.*?)</article>|<div class="col-md-9" role="main">(.*?)<footer',
    re.DOTALL,
)


def _content(page_html: str) -> str:
    m = _CONTENT.search(page_html)
    return (m.group(1) or m.group(2)) if m else page_html


def _reference_links(built: dict[str, str], pages: dict[str, _Ids]) -> dict[str, set[tuple[str, str]]]:
    """For each page, the (page, anchor) its relative links reach in the reference build: the
    page must exist there, and the anchor is kept only where the target has that id."""
    to_source = {out: source for source, out in built.items()}
    reached: dict[str, set[tuple[str, str]]] = {}
    for source, out in built.items():
        for href in pages[source].links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("/"):
                continue
            target = posixpath.normpath(unquote(urlsplit(urljoin(out, href)).path)) if parts.path else out
            if href.endswith("/") or (parts.path and not posixpath.splitext(target)[1]):
                target = posixpath.join(target, "index.html")
            if target not in to_source:
                continue
            anchor = parts.fragment if parts.fragment in pages[to_source[target]].ids else ""
            reached.setdefault(source, set()).add((to_source[target], anchor))
    return reached


@pytest.mark.parametrize("name", ["mkdocs", "material"])
def test_a_real_mkdocs_project_comes_in_reads_well_and_goes_back_out_unchanged(
    name, tmp_path, settings, platform_admin, client
):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    root = PROJECTS / name
    space = services.space_create(actor=platform_admin, key=f"rt-{name}", name=name, owner=None)
    result = services.space_import_archive(actor=platform_admin, space=space, archive=_zip(root), drop_refused=True)
    print(f"\n{name}: {result.created} pages; dropped: {result.dropped}; not rendered: {list(result.unrendered)}")
    if name == "material":  # the import report names what Bridge cannot render, and where
        assert "reference/diagrams.md" in result.unrendered["Mermaid diagrams: shown as code"]
        assert len(result.unrendered["code annotations: shown as a numbered list"]) >= 2
        assert "extension pymdownx.magiclink: not rendered" in result.unrendered

    # Every Markdown file is a page, in the nav's order.
    sources = sorted(p.relative_to(root / "docs").as_posix() for p in (root / "docs").rglob("*.md"))
    pages = {p.source_path: p for p in Page.objects.filter(space=space).exclude(source_path__startswith="_section/")}
    assert sorted(pages) == sources
    _config, project_pages = read_project(root, drop_refused=True)
    nav_order = [p.path for p in project_pages if p.path in pages and p.position < 1000]
    tree_order = [p.source_path for p, _depth in page_tree(space) if p.source_path in nav_order]
    assert tree_order == nav_order

    reference, ref_config, log = _reference_site(root, tmp_path)
    client.force_login(platform_admin)
    matching, problems = 0, []
    rendered = {path: page_rendered(page).html for path, page in pages.items()}
    ours_of = {path: _parse(page_html) for path, page_html in rendered.items()}
    by_url = {page.get_absolute_url(): path for path, page in pages.items()}
    built = {path: _built_path(path, ref_config.get("use_directory_urls", True)) for path in rendered}
    theirs_of = {
        path: _parse(_content((reference / out).read_text())) if (reference / out).is_file() else _Ids()
        for path, out in built.items()
    }
    for path, page_html in rendered.items():
        ours, theirs = ours_of[path], theirs_of[path]
        if [i.removeprefix("kb-") for i in ours.headings] == theirs.headings:
            matching += 1
        else:
            print(f"{path}: ids differ: {[i.removeprefix('kb-') for i in ours.headings]} != {theirs.headings}")
        text = " ".join(ours.text)
        for literal in LITERALS:
            if literal in text:
                problems.append(f"{path}: shows “{literal}”")
        if re.match(r"\s*-{3}\s*$", page_html.split("\n", 1)[0]) or re.search(
            r"<h[1-6][^>]*>\s*(title|tags|hide|template|description|icon|status):", page_html
        ):
            problems.append(f"{path}: shows its front matter")
        for src in ours.images:
            if src.startswith(("http://", "https://", "data:", "/knowledge/icons/")):
                continue
            if not src.startswith("/knowledge/s/"):
                problems.append(f"{path}: image {src} is not shown")
            elif client.get(src).status_code != 200:
                problems.append(f"{path}: image {src} does not load")

    # Every relative link (and anchor) that works in the reference build works in Bridge: the
    # page links to the same page, whose URL answers, and the anchor is an id on it.
    reached_by_bridge: dict[str, set[tuple[str, str]]] = {}
    for path, ours in ours_of.items():
        for href in map(html.unescape, ours.links):
            target, _, anchor = href.partition("#")
            target_path = by_url.get(target) if target else path
            if target_path is not None:
                reached_by_bridge.setdefault(path, set()).add((target_path, ""))
                if anchor in ours_of[target_path].ids:
                    reached_by_bridge[path].add((target_path, anchor.removeprefix("kb-")))
    links_checked = 0
    for path, reached in _reference_links(built, theirs_of).items():
        links_checked += len(reached)
        for target, anchor in sorted(reached - reached_by_bridge.get(path, set())):
            problems.append(f"{path}: the link to {target}{'#' + anchor if anchor else ''} does not work in Bridge")
    for url in by_url:
        if client.get(url).status_code != 200:
            problems.append(f"{by_url[url]}: {url} does not answer")
    print(f"{name}: {links_checked} relative links and anchors of the reference build checked in Bridge")
    share = matching / len(rendered)
    print(f"{name}: headings and ids match mkdocs build on {matching}/{len(rendered)} pages ({share:.0%})")
    assert not problems, "\n".join(problems[:40])
    assert share >= 0.95

    # Export, build strictly, and import the export again: nothing changes.
    export = tmp_path / "export"
    with zipfile.ZipFile(io.BytesIO(services.space_export_zip(actor=platform_admin, space=space))) as archive:
        archive.extractall(export)
    ok, build_log = _mkdocs_build(export / "mkdocs.yml", tmp_path / "export-site", strict=True)
    assert ok, "\n".join(line for line in build_log.splitlines() if not line.startswith("INFO"))[-6000:]
    attachments = Attachment.objects.filter(page__space=space).count()
    before = set(Page.objects.filter(space=space).values_list("pk", flat=True))
    again = services.space_import_archive(actor=platform_admin, space=space, archive=_zip(export))
    new = Page.objects.filter(space=space).exclude(pk__in=before).values_list("source_path", "title")
    assert (again.created, again.updated, again.dropped) == (0, 0, []), (again, list(new))
    assert Attachment.objects.filter(page__space=space).count() == attachments
    shutil.rmtree(export, ignore_errors=True)
