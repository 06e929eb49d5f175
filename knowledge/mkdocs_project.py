"""mkdocs projects in and out: read and check a project, extract archives safely, export, build.

An adapter: it knows mkdocs and zip files, nothing about the database. Every refusal is a
``ProjectError`` whose message tells the user what to fix.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import yaml
from django.conf import settings

from portal import safe_yaml
from portal.services import ServiceError


class ProjectError(ServiceError):
    pass


# Keys of mkdocs.yml we accept; anything else (``hooks`` above all: it runs Python) is refused.
ALLOWED_KEYS = {
    "site_name", "site_description", "site_author", "site_url", "repo_url", "repo_name", "edit_uri",
    "copyright", "docs_dir", "nav", "theme", "markdown_extensions", "plugins", "extra", "extra_css",
    "use_directory_urls", "strict", "validation", "not_in_nav", "exclude_docs", "remote_branch",
    "remote_name", "dev_addr",
}  # fmt: skip
ALLOWED_PLUGINS = {"search", "tags", "offline"}
ALLOWED_THEMES = {"mkdocs", "readthedocs", "material"}
ALLOWED_EXTENSIONS = {
    "abbr", "admonition", "attr_list", "def_list", "fenced_code", "footnotes", "md_in_html", "meta",
    "sane_lists", "smarty", "tables", "toc", "codehilite", "wikilinks", "nl2br",
    "pymdownx.tasklist", "pymdownx.superfences", "pymdownx.highlight", "pymdownx.inlinehilite",
    "pymdownx.details", "pymdownx.tabbed", "pymdownx.keys", "pymdownx.mark", "pymdownx.tilde",
    "pymdownx.caret", "pymdownx.betterem", "pymdownx.smartsymbols", "pymdownx.critic", "pymdownx.magiclink",
    "pymdownx.saneheaders",
}  # fmt: skip

# The extensions the portal renders pages with (knowledge.rendering.EXTENSIONS), so an
# exported page looks the same in the built site.
EXPORT_EXTENSIONS = [
    "admonition",
    "pymdownx.details",
    "pymdownx.superfences",
    {"pymdownx.highlight": {"css_class": "highlight", "guess_lang": False}},
    "tables",
    "footnotes",
    "abbr",
    {"toc": {"permalink": True}},
    "sane_lists",
    "pymdownx.tasklist",
]


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _name_of(entry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return str(next(iter(entry)))
    raise ProjectError("mkdocs.yml: every plugin and Markdown extension must be a name or a one-key mapping.")


def load_config(root: Path) -> dict:
    """Read and check ``mkdocs.yml`` under ``root``; refuse anything that could run code or escape."""
    root = root.resolve()
    cfg_path = next((root / n for n in ("mkdocs.yml", "mkdocs.yaml") if (root / n).is_file()), None)
    if cfg_path is None:
        raise ProjectError("No mkdocs.yml found at the top of the project.")
    if cfg_path.is_symlink():
        raise ProjectError("mkdocs.yml is a symbolic link; Bridge imports real files only.")
    try:
        config = safe_yaml.load(cfg_path.read_text(encoding="utf-8"), name="mkdocs.yml")
    except yaml.constructor.ConstructorError as exc:
        if "unhashable" in str(exc.problem):
            raise ProjectError(
                f"mkdocs.yml is not valid YAML: a list or mapping is used as a key "
                f"(line {exc.problem_mark.line + 1 if exc.problem_mark else '?'})."
            )
        raise ProjectError(
            f"mkdocs.yml uses a YAML tag Bridge does not accept ({exc.problem}); "
            "tags such as !!python/name or !ENV can run code or read the environment."
        )
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProjectError(f"mkdocs.yml is not valid YAML: {str(exc).splitlines()[0]}")
    if not isinstance(config, dict):
        raise ProjectError("mkdocs.yml must be a mapping of settings (site_name, nav, ...).")
    if "hooks" in config:
        raise ProjectError("mkdocs.yml uses hooks, which run Python code; Bridge refuses them.")
    unknown = sorted(set(config) - ALLOWED_KEYS)
    if unknown:
        raise ProjectError(f"mkdocs.yml has settings Bridge does not allow: {', '.join(map(str, unknown))}.")
    for key in ("plugins", "markdown_extensions", "extra_css"):
        if not isinstance(config.get(key) or [], list):
            raise ProjectError(f"mkdocs.yml: {key} must be a list (one entry per line starting with “- ”).")
    for key in ("nav", "not_in_nav", "exclude_docs", "extra", "site_name", "use_directory_urls"):
        value = config.get(key)
        expected = {"nav": list, "extra": dict, "use_directory_urls": bool}.get(key, str)
        if value is not None and not isinstance(value, expected):
            kind = {list: "a list", dict: "a mapping", bool: "true or false", str: "text"}[expected]
            raise ProjectError(f"mkdocs.yml: {key} must be {kind}.")
    for plugin in config.get("plugins") or []:
        name = _name_of(plugin)
        if name not in ALLOWED_PLUGINS:
            raise ProjectError(
                f"mkdocs.yml uses the plugin “{name}”, which is not on the allowed list "
                f"({', '.join(sorted(ALLOWED_PLUGINS))})."
            )
    for ext in config.get("markdown_extensions") or []:
        name = _name_of(ext)
        if name not in ALLOWED_EXTENSIONS:
            raise ProjectError(f"mkdocs.yml uses the Markdown extension “{name}”, which is not allowed.")
    theme = config.get("theme")
    if theme is not None:
        if not isinstance(theme, (str, dict)) or (isinstance(theme, dict) and not isinstance(theme.get("name"), str)):
            raise ProjectError("mkdocs.yml: theme must be a theme name, or a mapping with a name: {name: mkdocs}.")
        theme_name = theme if isinstance(theme, str) else theme["name"]
        if theme_name not in ALLOWED_THEMES:
            raise ProjectError(
                f"mkdocs.yml uses the theme “{theme_name}”; allowed: {', '.join(sorted(ALLOWED_THEMES))}."
            )
        if isinstance(theme, dict) and "custom_dir" in theme:
            raise ProjectError("mkdocs.yml sets theme.custom_dir (custom templates); Bridge refuses it.")
    docs_dir = config.get("docs_dir", "docs")
    if not isinstance(docs_dir, str) or not docs_dir or "\0" in docs_dir:
        raise ProjectError("mkdocs.yml: docs_dir must be a folder name.")
    resolved = (root / docs_dir).resolve()
    if not resolved.is_relative_to(root):
        raise ProjectError(f"mkdocs.yml: docs_dir “{docs_dir}” points outside the project; it must stay inside.")
    if not resolved.is_dir():
        raise ProjectError(f"mkdocs.yml: docs_dir “{docs_dir}” does not exist in the project.")
    config["_docs_path"] = resolved
    config["_config_path"] = cfg_path
    # mkdocs reads mkdocs.yml and the docs folder only (custom_dir is refused above).
    check_symlinks(root, (root / docs_dir))
    return config


def check_symlinks(root: Path, scan: Path | None = None) -> None:
    """Refuse symbolic links under ``scan`` that point outside ``root`` (e.g. docs/secret.md -> /etc/passwd)."""
    root = root.resolve()
    count = 0
    scan = scan if scan is not None else root
    if scan.is_symlink() and not scan.resolve().is_relative_to(root):
        raise ProjectError(f"{scan.name} is a symbolic link pointing outside the project; Bridge refuses it.")
    for dirpath, dirnames, filenames in os.walk(scan, followlinks=False):
        for name in dirnames + filenames:
            count += 1
            if count > _limit("KNOWLEDGE_MAX_IMPORT_FILES", 2000) * 2:
                raise ProjectError("The project has too many files to import.")
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                rel = path.relative_to(scan)
                raise ProjectError(f"{rel} is a symbolic link pointing outside the project; Bridge refuses it.")


# --- reading a project ---------------------------------------------------------------------


@dataclass
class ProjectPage:
    path: str  # relative to docs_dir, posix
    title: str
    body: str
    parent: str | None = None  # path of the parent page (sections get a synthetic path)
    position: int = 0
    children: list[str] = field(default_factory=list)
    # Local files the page links to or shows: the target as written -> the file on disk.
    files: dict[str, Path] = field(default_factory=dict)


# Where Markdown names a file: [text](target "title"), ![alt](target), [id]: target, <img src="target">.
_LINK_TARGETS = [
    re.compile(r"(\]\(\s*<?)([^)\s<>]+)"),
    re.compile(r"(?m)(^ {0,3}\[[^\]\n]+\]:[ \t]*<?)([^\s<>]+)"),
    re.compile(r"""(<img\b[^>]*?\bsrc=["'])([^"'\s>]+)"""),
]


def link_targets_in(body: str) -> set[str]:
    return {m.group(2) for pattern in _LINK_TARGETS for m in pattern.finditer(body)}


def replace_link_targets(body: str, replacements: dict[str, str]) -> str:
    """Rewrite the link targets of ``body`` found in ``replacements`` (others stay as written)."""
    if not replacements:
        return body
    for pattern in _LINK_TARGETS:
        body = pattern.sub(lambda m: m.group(1) + replacements.get(m.group(2), m.group(2)), body)
    return body


def _local_file(target: str, page_path: str, docs: Path) -> Path | None:
    """The file in the docs folder a relative, non-Markdown link points to, if there is one."""
    path = target.split("#", 1)[0].split("?", 1)[0]
    if not path or path.startswith(("/", "\\")) or ":" in path or path.lower().endswith(".md"):
        return None
    relative = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), unquote(path)))
    if relative.startswith("../") or relative == "..":
        return None
    candidate = docs / relative
    if not candidate.is_file() or not candidate.resolve().is_relative_to(docs.resolve()):
        return None
    return candidate


_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _title_from(body: str, path: str) -> str:
    m = _H1.search(body)
    if m:
        return m.group(1).strip()[:200]
    stem = posixpath.splitext(posixpath.basename(path))[0]
    if stem == "index":
        stem = posixpath.basename(posixpath.dirname(path)) or "Home"
    return stem.replace("-", " ").replace("_", " ").strip().capitalize()[:200] or "Untitled"


def read_project(root: Path) -> tuple[dict, list[ProjectPage]]:
    """The pages of a checked project, in navigation order (nav first, then the rest by path)."""
    config = load_config(root)
    docs: Path = config["_docs_path"]
    files: dict[str, str] = {}
    total = 0
    for path in sorted(docs.rglob("*.md")):
        if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
            raise ProjectError(f"{path.name} is a symbolic link pointing outside the project.")
        rel = path.relative_to(docs).as_posix()
        size = path.stat().st_size
        total += size
        if size > _limit("KNOWLEDGE_MAX_PAGE_BYTES", 512 * 1024):
            raise ProjectError(f"{rel} is larger than the page size limit.")
        if total > _limit("KNOWLEDGE_MAX_IMPORT_BYTES", 50 * 1024 * 1024):
            raise ProjectError("The project is larger than the import limit.")
        if len(files) >= _limit("KNOWLEDGE_MAX_IMPORT_FILES", 2000):
            raise ProjectError("The project has too many pages to import.")
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ProjectError(f"{rel} is not UTF-8 text.")
        if "\0" in files[rel]:
            raise ProjectError(f"{rel} contains NUL characters, so it is not a text page.")

    pages: list[ProjectPage] = []
    seen: set[str] = set()

    def add(path: str, title: str | None, parent: str | None, position: int) -> None:
        body = files[path]
        pages.append(ProjectPage(path=path, title=title or _title_from(body, path), body=body, parent=parent,
                                 position=position))  # fmt: skip
        seen.add(path)

    def walk(entries, parent: str | None, depth: int) -> None:
        if depth > 10 or not isinstance(entries, list):
            return
        for position, entry in enumerate(entries, 1):
            if len(pages) >= max_nav:
                raise ProjectError(f"mkdocs.yml: nav lists more than {max_nav} pages and sections, the limit.")
            title, target = None, entry
            if isinstance(entry, dict) and len(entry) == 1:
                title, target = next(iter(entry.items()))
            if isinstance(target, str):
                norm = posixpath.normpath(target)
                if norm in files and norm not in seen:
                    add(norm, str(title) if title else None, parent, position)
                # External links (http...) and missing files are skipped.
            elif isinstance(target, list):
                first = target[0] if target else None
                if isinstance(first, dict) and len(first) == 1:
                    first = next(iter(first.values()))
                index = posixpath.normpath(first) if isinstance(first, str) else ""
                if index.endswith("index.md") and index in files and index not in seen:
                    # A section whose first page is its index.md: that page is the section (as in
                    # mkdocs-material's section indexes), so an export re-imports with the same tree.
                    add(index, str(title) if title else None, parent, position)
                    walk(target[1:], index, depth + 1)
                    continue
                section = f"_section/{parent or ''}/{title}"
                pages.append(ProjectPage(path=section, title=str(title)[:200], body=f"# {title}\n", parent=parent,
                                         position=position))  # fmt: skip
                walk(target, section, depth + 1)

    max_nav = _limit("KNOWLEDGE_MAX_IMPORT_FILES", 2000)
    walk(config.get("nav"), None, 0)
    rest = [p for p in files if p not in seen]
    for offset, path in enumerate(rest, 1):
        add(path, None, None, 1000 + offset)
    for page in pages:
        if page.path in files:
            for target in link_targets_in(page.body):
                local = _local_file(target, page.path, docs)
                if local is not None:
                    total += local.stat().st_size
                    page.files[target] = local
    if total > _limit("KNOWLEDGE_MAX_IMPORT_BYTES", 50 * 1024 * 1024):
        raise ProjectError("The project (pages and the files they show) is larger than the import limit.")
    return config, pages


# --- archives -------------------------------------------------------------------------------


def extract_zip(fileobj, dest: Path) -> Path:
    """Extract an uploaded zip into ``dest`` with limits; return the folder holding mkdocs.yml."""
    max_files = _limit("KNOWLEDGE_MAX_IMPORT_FILES", 2000)
    max_total = _limit("KNOWLEDGE_MAX_IMPORT_BYTES", 50 * 1024 * 1024)
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError):
        raise ProjectError("The upload is not a valid zip archive.")
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise ProjectError(f"The archive has {len(infos)} entries; the limit is {max_files}.")
        declared = sum(i.file_size for i in infos)
        if declared > max_total:
            raise ProjectError(
                f"The archive expands to {declared // (1024 * 1024)} MB; the limit is {max_total // (1024 * 1024)} MB."
            )
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\\" in name:
                raise ProjectError(f"The archive contains an unsafe path “{name}” (zip-slip); nothing was imported.")
            if info.flag_bits & 0x1:
                raise ProjectError(f"“{name}” in the archive is encrypted; upload an archive without a password.")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ProjectError(f"The archive contains a symbolic link “{name}”; Bridge refuses links.")
            if info.file_size > 1024 * 1024 and info.file_size > 100 * max(info.compress_size, 1):
                raise ProjectError(f"“{name}” is compressed suspiciously well (a zip bomb?); nothing was imported.")
        dest = dest.resolve()
        written = 0
        for info in infos:
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest):
                raise ProjectError(f"The archive contains an unsafe path “{info.filename}”.")
            try:
                written = _extract_entry(archive, info, target, written, max_total)
            except (zipfile.BadZipFile, zlib.error, EOFError):
                raise ProjectError(f"“{info.filename}” in the archive is damaged (its checksum or data is wrong).")
            except NotImplementedError:
                raise ProjectError(f"“{info.filename}” uses a compression method Bridge cannot read; use plain zip.")
            except OSError:
                raise ProjectError(
                    f"“{info.filename}” clashes with another entry of the archive (a file and a folder of that name)."
                )
    candidates = sorted(dest.rglob("mkdocs.y*ml"), key=lambda p: len(p.parts))
    if not candidates:
        raise ProjectError("The archive has no mkdocs.yml.")
    return candidates[0].parent


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, written: int, max_total: int) -> int:
    """Write one entry; return the bytes written so far (real bytes: header sizes can lie)."""
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return written
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(64 * 1024):
            written += len(chunk)
            if written > max_total:
                raise ProjectError("The archive expands beyond the import limit (a zip bomb?).")
            out.write(chunk)
    return written


# --- export and build ----------------------------------------------------------------------


@dataclass
class ExportPage:
    pk: int
    title: str
    body: str
    path: str
    children: list[ExportPage] = field(default_factory=list)


def relative_link(from_path: str, to_path: str) -> str:
    return posixpath.relpath(to_path, posixpath.dirname(from_path) or ".")


def write_project(
    dest: Path, *, site_name: str, roots: list[ExportPage], files: dict[str, Callable[[], IO[bytes]]] | None = None
) -> Path:
    """Write mkdocs.yml and docs/ for a tree of pages (and ``files``: docs path -> opener);
    return the mkdocs.yml path."""
    docs = dest / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for path, opener in (files or {}).items():
        (docs / path).parent.mkdir(parents=True, exist_ok=True)
        with opener() as src, open(docs / path, "wb") as out:
            shutil.copyfileobj(src, out)

    def nav_of(pages: list[ExportPage]) -> list:
        nav = []
        for p in pages:
            (docs / p.path).parent.mkdir(parents=True, exist_ok=True)
            (docs / p.path).write_text(p.body, encoding="utf-8")
            if p.children:
                nav.append({p.title: [{p.title: p.path}, *nav_of(p.children)]})
            else:
                nav.append({p.title: p.path})
        return nav

    nav = nav_of(roots)
    if not any(p.path == "index.md" for p in roots):
        (docs / "index.md").write_text(f"# {site_name}\n", encoding="utf-8")
        nav.insert(0, {"Home": "index.md"})
    config = {
        "site_name": site_name,
        "docs_dir": "docs",
        "nav": nav,
        "theme": {"name": "mkdocs"},
        "use_directory_urls": False,
        "markdown_extensions": EXPORT_EXTENSIONS,
        "plugins": ["search"],
    }
    cfg = dest / "mkdocs.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return cfg


def zip_directory(src: Path) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


def build(config_file: Path, site_dir: Path, *, timeout: int | None = None) -> tuple[bool, str]:
    """``mkdocs build --strict`` in a child process with a timeout; returns (ok, log)."""
    timeout = timeout or _limit("KNOWLEDGE_BUILD_TIMEOUT_SECONDS", 120)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(config_file.parent), "LANG": "C.UTF-8"}
    try:
        proc = subprocess.run(  # noqa: S603 (an argument list, no shell)
            [
                sys.executable,
                "-I",  # isolated: the project's folder is not on sys.path, so it cannot shadow mkdocs
                "-m",
                "mkdocs",
                "build",
                "--strict",
                "--clean",
                "--config-file",
                str(config_file),
                "--site-dir",
                str(site_dir),
            ],  # fmt: skip
            cwd=config_file.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"mkdocs build took longer than {timeout} seconds and was stopped."
    log = (proc.stdout + proc.stderr)[-20000:]
    return proc.returncode == 0, log
