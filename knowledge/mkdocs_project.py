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
    "pymdownx.saneheaders", "pymdownx.emoji",
}  # fmt: skip

# The extensions the portal renders pages with (knowledge.rendering.EXTENSIONS), so an
# exported page looks the same in the built site.
EXPORT_EXTENSIONS = [
    "admonition",
    "pymdownx.details",
    "pymdownx.superfences",
    {"pymdownx.highlight": {"css_class": "highlight", "guess_lang": False}},
    "pymdownx.inlinehilite",
    "tables",
    "footnotes",
    "abbr",
    "attr_list",
    "def_list",
    "md_in_html",
    {"toc": {"permalink": True}},
    "sane_lists",
    "pymdownx.tasklist",
    {"pymdownx.tabbed": {"alternate_style": True}},
    "pymdownx.mark",
    "pymdownx.keys",
    "pymdownx.caret",
    "pymdownx.tilde",
    {"pymdownx.emoji": {"emoji_index": "__twemoji__", "emoji_generator": "__to_svg__"}},
]
# Python names mkdocs.yml may give with !!python/name: mkdocs-material's offline emoji and icons,
# and pymdownx's own helpers, as mkdocs-material documents them. Any other name is refused.
SAFE_PYTHON_NAMES = {
    "tag:yaml.org,2002:python/name:material.extensions.emoji.twemoji",
    "tag:yaml.org,2002:python/name:material.extensions.emoji.to_svg",
    "tag:yaml.org,2002:python/name:pymdownx.superfences.fence_code_format",
    "tag:yaml.org,2002:python/object/apply:pymdownx.slugs.slugify",
}
_EXPORT_TAGS = {
    "__twemoji__": "!!python/name:material.extensions.emoji.twemoji",
    "__to_svg__": "!!python/name:material.extensions.emoji.to_svg",
}
# A template a page names in its front matter (template: home.html) that the theme lacks gets
# this stand-in in the export, so the site builds; the page keeps its setting.
TEMPLATE_STAND_IN = '{% extends "main.html" %}\n'


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _name_of(entry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return str(next(iter(entry)))
    raise ProjectError("mkdocs.yml: every plugin and Markdown extension must be a name or a one-key mapping.")


@dataclass(frozen=True)
class Refusal:
    """A setting of mkdocs.yml Bridge will not use, and why."""

    setting: str
    reason: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.reason}"


class SettingsRefused(ProjectError):
    """mkdocs.yml has settings Bridge refuses: all of them, found in one pass."""

    def __init__(self, name: str, refusals: list[Refusal]):
        self.refusals = refusals
        listed = "; ".join(str(r) for r in refusals)
        super().__init__(f"{name} has {len(refusals)} setting(s) Bridge does not use: {listed}.")


class _RefusedTag:
    def __init__(self, tag: str):
        # As written in the file: !!python/name:x rather than tag:yaml.org,2002:python/name:x.
        self.tag = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _SafeName:
    """One of SAFE_PYTHON_NAMES: kept (mkdocs resolves it when it builds the project), with its
    arguments (``!!python/object/apply:pymdownx.slugs.slugify {kwds: {case: lower}}``)."""

    def __init__(self, tag: str, arguments: dict | None = None):
        self.tag = tag
        self.arguments = arguments


class _ProjectLoader(yaml.SafeLoader):
    """Safe YAML without anchors or aliases (a few aliases can expand to gigabytes); tags such as
    ``!ENV`` or ``!!python/name`` become markers so every one of them can be reported."""

    file_name = "mkdocs.yml"
    depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
            raise ProjectError(
                f"{self.file_name} uses a YAML {kind}{event.anchor} (line {event.start_mark.line + 1}); "
                "Bridge reads YAML without anchors and aliases: write the values out."
            )
        # PyYAML composes recursively: without a cap, a few kilobytes of "[[[[..." end in a RecursionError.
        if self.depth >= safe_yaml.MAX_DEPTH and isinstance(event, yaml.CollectionStartEvent):
            raise _too_deep(self.file_name, event.start_mark.line + 1)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _too_deep(name: str, line: int) -> ProjectError:
    return ProjectError(
        f"{name}: nested too deeply (line {line}); Bridge reads lists and mappings at most "
        f"{safe_yaml.MAX_DEPTH} levels deep."
    )


def _refused_tag(loader, suffix, node):
    if node.tag not in SAFE_PYTHON_NAMES:
        return _RefusedTag(node.tag)
    return _SafeName(
        node.tag, loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode) else None
    )


_ProjectLoader.add_multi_constructor("!", _refused_tag)
_ProjectLoader.add_multi_constructor("tag:yaml.org,2002:python/", _refused_tag)


def _drop_tags(value, where: str, refusals: list[Refusal]):
    """``value`` without the markers of refused YAML tags, each one reported."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if isinstance(item, _RefusedTag):
                refusals.append(Refusal(f"{where}{key}", f"uses the YAML tag {item.tag}, which reads the environment "
                                        "or names Python code"))  # fmt: skip
            else:
                kept[key] = _drop_tags(item, f"{where}{key}.", refusals)
        return kept
    if isinstance(value, list):
        kept = []
        for n, item in enumerate(value):
            if isinstance(item, _RefusedTag):
                refusals.append(Refusal(f"{where.rstrip('.')}[{n}]", f"uses the YAML tag {item.tag}"))
            else:
                kept.append(_drop_tags(item, f"{where.rstrip('.')}[{n}].", refusals))
        return kept
    return value


def _nav_size(entries, depth: int = 0) -> int:
    if not isinstance(entries, list) or depth > 10:
        return 0
    count = 0
    for entry in entries:
        count += 1
        if isinstance(entry, dict):
            count += sum(_nav_size(v, depth + 1) for v in entry.values())
    return count


def _is_bridge_layer(folder: Path) -> bool:
    """Whether a theme's custom_dir holds exactly Bridge's own layer (what an export writes)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    ours = {p.relative_to(SITE_THEME).as_posix(): p for p in SITE_THEME.rglob("*") if p.is_file()}
    theirs = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    if any(p.is_symlink() for p in theirs.values()) or not ours.keys() <= theirs.keys():
        return False
    stand_ins = theirs.keys() - ours.keys()
    return all(theirs[k].read_bytes() == ours[k].read_bytes() for k in ours) and all(
        k.endswith(".html") and "/" not in k and theirs[k].read_text(errors="replace") == TEMPLATE_STAND_IN
        for k in stand_ins
    )


def load_config(root: Path, *, drop_refused: bool = False) -> dict:
    """Read and check ``mkdocs.yml`` under ``root``; refuse anything that could run code or escape.

    Settings Bridge will not use (hooks, plugins and Markdown extensions outside its lists, YAML
    tags, unknown settings) are all found in one pass: ``SettingsRefused`` names every one, or with
    ``drop_refused`` they are left out and listed in ``config["_dropped"]``. Whatever makes the
    project unreadable (bad YAML, anchors, a docs_dir outside it) is refused at once."""
    root = root.resolve()
    cfg_path = next((root / n for n in ("mkdocs.yml", "mkdocs.yaml") if (root / n).is_file()), None)
    if cfg_path is None:
        raise ProjectError("No mkdocs.yml found at the top of the project.")
    name = cfg_path.name
    if cfg_path.is_symlink():
        raise ProjectError(f"{name} is a symbolic link; Bridge imports real files only.")
    try:
        text = cfg_path.read_text(encoding="utf-8")
        too_deep_line = safe_yaml.too_deep_at(text)  # refused quickly, before the slow loader gets there
        if too_deep_line is not None:
            raise _too_deep(name, too_deep_line)
        loader = _ProjectLoader(text)
        loader.file_name = name
        try:
            config = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        if "unhashable" in str(exc.problem):
            raise ProjectError(
                f"{name} is not valid YAML: a list or mapping is used as a key "
                f"(line {exc.problem_mark.line + 1 if exc.problem_mark else '?'})."
            )
        raise ProjectError(f"{name} uses a YAML tag Bridge does not accept ({exc.problem}).")
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{name} is not valid YAML: {str(exc).splitlines()[0]}")
    if not isinstance(config, dict):
        raise ProjectError(f"{name} must be a mapping of settings (site_name, nav, ...).")
    refusals: list[Refusal] = []
    config = _drop_tags(config, "", refusals)
    if "hooks" in config:
        refusals.append(Refusal("hooks", "they run Python code"))
        config.pop("hooks")
    for key in sorted(set(config) - ALLOWED_KEYS, key=str):
        refusals.append(Refusal(str(key), "not a setting Bridge uses"))
        config.pop(key)
    for key in ("plugins", "markdown_extensions", "extra_css"):
        if not isinstance(config.get(key) or [], list):
            raise ProjectError(f"{name}: {key} must be a list (one entry per line starting with “- ”).")
    for key in ("nav", "not_in_nav", "exclude_docs", "extra", "site_name", "use_directory_urls"):
        value = config.get(key)
        expected = {"nav": list, "extra": dict, "use_directory_urls": bool}.get(key, str)
        if value is not None and not isinstance(value, expected):
            kind = {list: "a list", dict: "a mapping", bool: "true or false", str: "text"}[expected]
            raise ProjectError(f"{name}: {key} must be {kind}.")
    nav_limit = _limit("KNOWLEDGE_MAX_IMPORT_FILES", 2000) * 2
    if _nav_size(config.get("nav")) > nav_limit:
        raise ProjectError(f"{name}: nav has more than {nav_limit} entries.")
    plugins = []
    for plugin in config.get("plugins") or []:
        plugin_name = _name_of(plugin)
        if plugin_name in ALLOWED_PLUGINS:
            plugins.append(plugin)
        else:
            refusals.append(
                Refusal(f"plugin “{plugin_name}”", f"not on the allowed list ({', '.join(sorted(ALLOWED_PLUGINS))})")
            )
    config["plugins"] = plugins
    extensions = []
    for ext in config.get("markdown_extensions") or []:
        ext_name = _name_of(ext)
        if ext_name in ALLOWED_EXTENSIONS:
            extensions.append(ext)
        else:
            refusals.append(Refusal(f"Markdown extension “{ext_name}”", "not allowed: Bridge cannot render it"))
    config["markdown_extensions"] = extensions
    theme = config.get("theme")
    if theme is not None:
        if not isinstance(theme, (str, dict)) or (isinstance(theme, dict) and not isinstance(theme.get("name"), str)):
            raise ProjectError(f"{name}: theme must be a theme name, or a mapping with a name: {{name: mkdocs}}.")
        theme_name = theme if isinstance(theme, str) else theme["name"]
        if theme_name not in ALLOWED_THEMES:
            refusals.append(Refusal(f"theme “{theme_name}”", f"allowed: {', '.join(sorted(ALLOWED_THEMES))}"))
            config.pop("theme")
        elif isinstance(theme, dict) and "custom_dir" in theme:
            custom = theme["custom_dir"]
            if not (isinstance(custom, str) and _is_bridge_layer((root / custom).resolve())):
                refusals.append(Refusal("theme.custom_dir", "custom templates can run code in the build"))
                theme.pop("custom_dir")
    docs_dir = config.get("docs_dir", "docs")
    if not isinstance(docs_dir, str) or not docs_dir or "\0" in docs_dir:
        raise ProjectError(f"{name}: docs_dir must be a folder name.")
    resolved = (root / docs_dir).resolve()
    problem = None
    if not resolved.is_relative_to(root):
        problem = f"{name}: docs_dir “{docs_dir}” points outside the project; it must stay inside."
    elif not resolved.is_dir():
        problem = f"{name}: docs_dir “{docs_dir}” does not exist in the project."
    if problem:  # named with the refused settings, so one upload shows everything to fix
        also = f" Also not used: {'; '.join(map(str, refusals))}." if refusals else ""
        raise ProjectError(problem + also)
    if refusals and not drop_refused:
        raise SettingsRefused(name, refusals)
    config["_dropped"] = refusals
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


def _ordered_link_targets(body: str) -> list[str]:
    found = sorted((m.start(), m.group(2)) for pattern in _LINK_TARGETS for m in pattern.finditer(body))
    return [target for _start, target in found]


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
    from knowledge.rendering import page_link_path

    path = target.split("#", 1)[0].split("?", 1)[0]
    if not path or path.startswith(("/", "\\")) or ":" in path or path.lower().endswith(".md"):
        return None
    if page_link_path(target) is not None:  # another page ("guide.md/", "user-guide/"), not a file
        return None
    relative = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), unquote(path)))
    stem = posixpath.splitext(posixpath.basename(page_path))[0]
    if (relative.startswith("../") or relative == "..") and stem not in ("index", "README"):
        # Written for the page's directory URL (user-guide/theme.md is served at user-guide/theme/).
        relative = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), stem, unquote(path)))
    if relative.startswith("../") or relative == "..":
        return None
    candidate = docs / relative
    if not candidate.is_file() or not candidate.resolve().is_relative_to(docs.resolve()):
        return None
    return candidate


_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$|^([^\s#>=-][^\n]*)\n=+[ \t]*$", re.MULTILINE)
_ATTR_LIST = re.compile(r"\s*\{:?[^}]*\}\s*$")


def _title_from(body: str, path: str) -> str:
    """As mkdocs names a page without a nav title: its front matter title, its first level-one
    heading (not a comment in a code block), or its file name."""
    from knowledge.rendering import page_meta, prose_only, split_front_matter

    title = page_meta(body).get("title")
    if title:
        return title[:200]
    m = _H1.search(prose_only(split_front_matter(body)[1]))
    if m:
        return _ATTR_LIST.sub("", (m.group(1) or m.group(2)).strip()).strip()[:200] or "Untitled"
    stem = posixpath.splitext(posixpath.basename(path))[0]
    if stem == "index":
        stem = posixpath.basename(posixpath.dirname(path)) or "Home"
    return stem.replace("-", " ").replace("_", " ").strip().capitalize()[:200] or "Untitled"


def read_project(root: Path, *, drop_refused: bool = False) -> tuple[dict, list[ProjectPage]]:
    """The pages of a checked project, in navigation order (nav first, then the rest by path)."""
    config = load_config(root, drop_refused=drop_refused)
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
                elif ":" not in target and (target.endswith("/") or any(f.startswith(norm + "/") for f in files)):
                    folder(norm, str(title) if title else None, parent, position)
                # External links (http...) and missing files are skipped.
            elif isinstance(target, list):
                first = target[0] if target else None
                if isinstance(first, dict) and len(first) == 1:
                    first = next(iter(first.values()))
                index = posixpath.normpath(first) if isinstance(first, str) else ""
                if posixpath.basename(index) in ("index.md", "README.md") and index in files and index not in seen:
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

    def folder(name: str, title: str | None, parent: str | None, position: int) -> None:
        """A nav entry naming a folder (``User Guide: user-guide/``): its index.md or README.md is
        the section, and its other pages follow in the order that page links to them (a README
        that lists the pages, as literate-nav reads it), then by path."""
        prefix = "" if name == "." else name + "/"
        index = next((prefix + n for n in ("index.md", "README.md") if prefix + n in files), None)
        if index is not None and index not in seen:
            add(index, title, parent, position)
            section = index
        else:
            section = f"_section/{parent or ''}/{title or name}"
            pages.append(ProjectPage(path=section, title=(title or name)[:200], body=f"# {title or name}\n",
                                     parent=parent, position=position))  # fmt: skip
        members = [p for p in files if p.startswith(prefix) and p not in seen]
        linked = []
        if index is not None:
            for target in _ordered_link_targets(files[index]):
                path = posixpath.normpath(posixpath.join(prefix, target.split("#", 1)[0].rstrip("/")))
                if path in members and path not in linked:
                    linked.append(path)
        for n, path in enumerate(linked + sorted(set(members) - set(linked)), 1):
            if path not in seen:
                add(path, None, section, n)

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


# Features of mkdocs and its plugins that Bridge does not render: how to spot them in a page's
# prose, and in its code blocks (fences are code to Bridge, so a fence's own syntax is found
# there), and what the reader sees instead.
UNRENDERED_FEATURES = [
    ("snippets (--8<--): the included file is not inserted", re.compile(r"(?m)^\s*-{1,3}8<-{1,3}"), None),
    ("math (pymdownx.arithmatex): shown as written", re.compile(r"(?m)^\s*\$\$|\\\(.+?\\\)"), None),
    ("Mermaid diagrams: shown as code", None, re.compile(r"(?m)^\s*(`{3,}|~{3,})\s*\{?\s*\.?mermaid\b")),
    (
        "code annotations: shown as a numbered list",
        re.compile(r"\{[^}\n]*\.annotate\b[^}\n]*\}"),
        # { .yaml .annotate } on a fence, or a "# (1)!" marker in the code
        re.compile(r"(?m)^\s*(`{3,}|~{3,}).*\.annotate\b|\(\d{1,3}\)!"),
    ),
    ("mkdocstrings (::: name): shown as written", re.compile(r"(?m)^:::\s+\S"), None),
    ("macros ({{ ... }}): shown as written", re.compile(r"\{\{[^}\n]+\}\}"), None),
    ("mkdocs-material buttons and grids: shown without their styling", re.compile(r"\.md-button|class=\"grid"), None),
]
# Extensions Bridge accepts in mkdocs.yml but renders with another one: nothing is lost.
RENDERED_INSTEAD = {"fenced_code": "pymdownx.superfences"}


def unrendered_extensions(configured: list) -> list[str]:
    """The Markdown extensions of mkdocs.yml (as ``load_config`` keeps them) Bridge does not
    render pages with, in the file's order: their syntax shows as written."""
    from knowledge.rendering import EXTENSIONS

    rendered = {ext for ext in EXTENSIONS if isinstance(ext, str)} | set(RENDERED_INSTEAD)
    names = [_name_of(ext) for ext in configured]
    return [name for n, name in enumerate(names) if name not in rendered and name not in names[:n]]


def unrendered_features(pages: list[ProjectPage], *, extensions: list = ()) -> dict[str, list[str]]:
    """What Bridge cannot render -> the paths of the pages that use it; each configured Markdown
    extension it does not render is an entry of its own (``extension X: not rendered``), with no
    pages: it applies to the whole project."""
    from knowledge.rendering import prose_and_code

    found: dict[str, list[str]] = {}
    for page in pages:
        if page.path.startswith("_section/"):
            continue
        prose, code = prose_and_code(page.body)
        for label, in_prose, in_code in UNRENDERED_FEATURES:
            if (in_prose and in_prose.search(prose)) or (in_code and in_code.search(code)):
                found.setdefault(label, []).append(page.path)
    for name in unrendered_extensions(list(extensions)):
        found[f"extension {name}: not rendered"] = []
    return found


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
    # A nav section without a page of its own (as imported): no file, only a heading in the nav.
    section_only: bool = False


SITE_THEME = Path(__file__).resolve().parent / "site_theme"


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
            if p.section_only and p.children:
                nav.append({p.title: nav_of(p.children)})
                continue
            (docs / p.path).parent.mkdir(parents=True, exist_ok=True)
            (docs / p.path).write_text(p.body, encoding="utf-8")
            if p.children:
                nav.append({p.title: [{p.title: p.path}, *nav_of(p.children)]})
            else:
                nav.append({p.title: p.path})
        return nav

    nav = nav_of(roots)
    shutil.copytree(SITE_THEME, dest / "overrides", dirs_exist_ok=True)
    for template in sorted(_templates_named(roots)):
        if not _theme_has_template(template):
            (dest / "overrides" / template).write_text(TEMPLATE_STAND_IN, encoding="utf-8")
    if not any(p.path == "index.md" for p in roots):
        (docs / "index.md").write_text(f"# {site_name}\n", encoding="utf-8")
        nav.insert(0, {"Home": "index.md"})
    config = {
        "site_name": site_name,
        "docs_dir": "docs",
        "nav": nav,
        # Bridge's layer over the theme (no inline scripts, search without a Web Worker), and no
        # highlight.js from a CDN: code is highlighted at build time and the site works offline.
        "theme": {"name": "mkdocs", "custom_dir": "overrides", "highlightjs": False},
        "extra_css": ["bridge/extra.css"],
        "use_directory_urls": False,
        "markdown_extensions": EXPORT_EXTENSIONS,
        "plugins": ["search"],
    }
    cfg = dest / "mkdocs.yml"
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    for placeholder, tag in _EXPORT_TAGS.items():
        text = text.replace(placeholder, tag)
    cfg.write_text(text, encoding="utf-8")
    return cfg


_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}\.html")


def _templates_named(pages: list[ExportPage]) -> set[str]:
    from knowledge.rendering import page_meta

    names = set()
    for page in pages:
        template = page_meta(page.body).get("template", "")
        if _TEMPLATE_NAME.fullmatch(template):
            names.add(template)
        names |= _templates_named(page.children)
    return names


def _theme_has_template(name: str) -> bool:
    import mkdocs.themes

    return (Path(mkdocs.themes.__file__).resolve().parent / "mkdocs" / name).is_file()


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
