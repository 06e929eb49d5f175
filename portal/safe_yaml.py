"""YAML from outside, read so that it cannot blow up: one loader for every app.

PyYAML's safe loader still expands aliases. A 544-byte "billion laughs" document
refers to one small list through nine levels of ``*alias``: parsing it is quick,
but whatever walks the result (validation, JSON, a database write, a page) meets
a billion strings. Bridge therefore refuses aliases outright (an anchor alone is
harmless; the value can always be written out), caps how deeply values nest, and
takes fingerprints from the raw text, never from the expanded data.

Catalog descriptors, catalog locations, ``mkdocs.yml`` and environment template
descriptors are all read here. Errors are ``yaml.YAMLError`` subclasses whose
message names the file and the line, so existing ``except yaml.YAMLError``
branches keep working and say something a person can act on.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import yaml

try:  # libyaml is in PyYAML's wheels and parses several times faster
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader

try:  # a YAML 1.2 parser in Rust (the catalog's fast path for large files)
    import yaml_rs
except ImportError:  # pragma: no cover
    yaml_rs = None

MAX_DEPTH = 256
"""How deeply mappings and lists may nest: yaml-rs's own limit, so both parsers refuse the same documents.

Descriptors nest a handful of levels and JSON Schemas a dozen; the cap keeps recursive code
(JSON, the YAML dumper) far from Python's recursion limit.
"""


class UnsafeYAML(yaml.MarkedYAMLError):
    """YAML that Bridge refuses although it parses: an alias, or values nested too deeply."""


class _NamedText(io.StringIO):
    """Text with a name: libyaml puts the stream's name in every mark (so in every message)."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name


class Loader(_BaseLoader):
    """PyYAML's safe loader (libyaml when available) that refuses aliases and deep nesting.

    libyaml hands an alias back as the very node its anchor made, so an alias is a node
    met twice on the way down the document's tree. The check walks that tree once before
    anything is constructed: a bomb stops at its first alias, in time proportional to its
    size, not to its expansion.
    """

    def __init__(self, stream, name: str = "input"):
        super().__init__(_NamedText(stream, name) if isinstance(stream, str) else stream)
        self.source_text = stream if isinstance(stream, str) else None
        self.source_name = name

    def construct_document(self, node):
        _check_tree(node, self)
        return super().construct_document(node)


def _check_tree(root, loader: Loader) -> None:
    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            raise _alias_error(loader, root, node)
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            continue
        if depth > MAX_DEPTH:
            raise UnsafeYAML(
                problem=f"values are nested more than {MAX_DEPTH} levels deep; Bridge reads at most {MAX_DEPTH}",
                problem_mark=node.start_mark,
            )
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        else:
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _alias_error(loader: Loader, root, node) -> UnsafeYAML:
    """Point at the first alias of the document (the reused node itself only knows where its anchor is)."""
    mark = node.start_mark
    if loader.source_text is not None:
        try:
            for token in yaml.scan(_NamedText(loader.source_text, loader.source_name), Loader=_BaseLoader):
                if isinstance(token, yaml.AliasToken) and token.start_mark.index >= root.start_mark.index:
                    mark = token.start_mark
                    break
        except yaml.YAMLError:
            pass
    return UnsafeYAML(
        problem="YAML aliases (*name) are not accepted: write the value out in full instead of referring to an "
        "anchor (&name)",
        problem_mark=mark,
    )


def load(text: str, *, name: str) -> Any:
    """The one document of ``text`` (None if empty). ``name`` (a file name) appears in every error."""
    loader = Loader(text, name)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_all(text: str, *, name: str) -> Iterator[Any]:
    """The documents of ``text``, one at a time; an error stops the iteration where it occurs."""
    loader = Loader(text, name)
    try:
        while loader.check_data():
            yield loader.get_data()
    finally:
        loader.dispose()


def too_deep_at(text: str) -> int | None:
    """The line (1-based) where lists and mappings of ``text`` nest more than MAX_DEPTH deep, or None.

    For loaders that compose in Python (mkdocs.yml's keeps its own tags): PyYAML's composer
    recurses, so 20,000 nested brackets end in a RecursionError, and its pure-Python scanner
    takes seconds to get there. libyaml's events are flat and quick. Other YAML errors are left
    to the caller's loader, which reports them in its own words.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem) and exc.problem_mark is not None:  # libyaml's own cap
            return exc.problem_mark.line + 1
    return None


def fast_loads(text: str) -> Any:
    """Parse with yaml-rs (aliases refused, as above); raises ValueError for anything it will not read.

    The caller falls back to ``load_all``, which says where and why. Raises ValueError when yaml-rs
    is not installed.
    """
    if yaml_rs is None:
        raise ValueError("yaml-rs is not installed")
    try:
        return yaml_rs.loads(text, parse_datetime=False, alias_limits=_NO_ALIASES)
    except Exception as exc:  # noqa: BLE001 - yaml-rs raises several types; the slow path explains
        raise ValueError(str(exc)) from exc


_NO_ALIASES = yaml_rs.AliasLimits(max_total_replayed_events=0) if yaml_rs is not None else None


def fingerprint(text: str) -> str:
    """A hash of the raw text (never of the parsed data, which an alias could make huge)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def error_position(exc: yaml.YAMLError) -> tuple[int | None, int | None, str]:
    """Where a YAML error really is (1-based line, column) and a message saying what is wrong.

    PyYAML gives two marks. For a token that runs on ("while scanning a quoted scalar"), the
    context mark is where it began (the line to fix) and the problem mark is where the parser
    gave up, often the next ``---``. For a collection that is malformed ("while parsing a block
    mapping"), the problem mark is the offending line and the context mark the collection's start.
    """
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    if problem is None:
        return None, None, str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    runs_on = bool(context and context.startswith("while scanning") and context_mark is not None)
    main = context_mark if runs_on else (problem_mark or context_mark)
    line = main.line + 1 if main is not None else None

    def said(text: str, mark) -> str:
        return f"{text} (line {mark.line + 1})" if mark is not None and mark.line + 1 != line else text

    parts = [said(context, context_mark)] if context else []
    parts.append(said(problem, problem_mark))
    column = main.column + 1 if main is not None else None
    return line, column, ": ".join(parts)


def describe(exc: yaml.YAMLError, *, name: str) -> str:
    """One line for a person: ``name, line 5, column 3: what is wrong``."""
    line, column, message = error_position(exc)
    where = f"{name}, line {line}, column {column}" if line is not None else name
    return f"{where}: {message}"
