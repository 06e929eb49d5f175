"""The yardstick of the mkdocs import: two real projects (mkdocs' own docs and mkdocs-material's,
kept under ``projects/`` with their SOURCE) come in, read well, and go back out unchanged.

The reference is ``mkdocs build`` of the same Markdown files with the extensions Bridge renders."""

import html
import io
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from knowledge import services
from knowledge.mkdocs_project import ExportPage, read_project, write_project
from knowledge.models import Attachment, Page
from knowledge.selectors import page_rendered, page_tree

PROJECTS = Path(__file__).parent / "projects"
LITERALS = ("===", "{ #", "{#", ":material-", ":octicons-", ":fontawesome-")


class _Ids(HTMLParser):
    """Heading ids, link targets and image sources of an HTML page, and its text outside code."""

    def __init__(self):
        super().__init__()
        self.headings, self.ids, self.links, self.images, self.text, self._code = [], set(), [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id") and not attrs["id"].endswith("ModalLabel"):
            self.headings.append(attrs["id"])
        if tag == "a" and attrs.get("href"):
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


def _reference_site(root: Path, tmp: Path) -> tuple[Path, str]:
    """mkdocs build of the project's Markdown files, with the extensions Bridge renders."""
    config, pages = read_project(root, drop_refused=True)
    docs = config["_docs_path"]
    roots = [ExportPage(pk=0, title=p.title, body=p.body, path=p.path) for p in pages if not p.path.startswith("_")]
    files = {
        f.relative_to(docs).as_posix(): (lambda f=f: open(f, "rb"))  # noqa: SIM115 (closed by write_project)
        for f in docs.rglob("*")
        if f.is_file() and f.suffix != ".md"
    }
    cfg = write_project(tmp / "reference", site_name="Reference", roots=roots, files=files)
    cfg.write_text(cfg.read_text() + "validation:\n  anchors: warn\n  unrecognized_links: warn\n")
    ok, log = _mkdocs_build(cfg, tmp / "reference-site", strict=False)
    assert ok, log
    return tmp / "reference-site", log


@pytest.mark.parametrize("name", ["mkdocs", "material"])
def test_a_real_mkdocs_project_comes_in_reads_well_and_goes_back_out_unchanged(
    name, tmp_path, settings, platform_admin, client
):
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    root = PROJECTS / name
    space = services.space_create(actor=platform_admin, key=f"rt-{name}", name=name, owner=None)
    result = services.space_import_archive(actor=platform_admin, space=space, archive=_zip(root), drop_refused=True)
    print(f"\n{name}: {result.created} pages; dropped: {result.dropped}; not rendered: {list(result.unrendered)}")

    # Every Markdown file is a page, in the nav's order.
    sources = sorted(p.relative_to(root / "docs").as_posix() for p in (root / "docs").rglob("*.md"))
    pages = {p.source_path: p for p in Page.objects.filter(space=space).exclude(source_path__startswith="_section/")}
    assert sorted(pages) == sources
    _config, project_pages = read_project(root, drop_refused=True)
    nav_order = [p.path for p in project_pages if p.path in pages and p.position < 1000]
    tree_order = [p.source_path for p, _depth in page_tree(space) if p.source_path in nav_order]
    assert tree_order == nav_order

    reference, log = _reference_site(root, tmp_path)
    client.force_login(platform_admin)
    matching, problems = 0, []
    rendered = {path: page_rendered(page).html for path, page in pages.items()}
    by_url = {page.get_absolute_url(): path for path, page in pages.items()}
    for path, page_html in rendered.items():
        ours = _parse(page_html)
        built = reference / re.sub(r"(^|/)README\.html$", r"\1index.html", path[:-3] + ".html")
        theirs = _parse(built.read_text()) if built.is_file() else _Ids()
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
        # Links to pages resolve (or were broken in mkdocs too), and their anchors exist.
        for href in ours.links:
            href = html.unescape(href)
            target, _, anchor = href.partition("#")
            if target in by_url and anchor:
                target_ids = _parse(rendered[by_url[target]]).ids
                if anchor not in target_ids and anchor.removeprefix("kb-") not in log:
                    problems.append(f"{path}: anchor #{anchor} missing in {by_url[target]}")
        for broken in re.findall(r'class="wikilink broken" title="No page called ([^"]*) yet"', page_html):
            if html.unescape(broken).split("/")[-1] not in log:
                problems.append(f"{path}: broken link to {broken}")
        for src in ours.images:
            if src.startswith(("http://", "https://", "data:", "/knowledge/icons/")):
                continue
            if not src.startswith("/knowledge/s/"):
                problems.append(f"{path}: image {src} is not shown")
            elif client.get(src).status_code != 200:
                problems.append(f"{path}: image {src} does not load")
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
