"""Reading import input from the server's folders, and ``$text``/``$json``/``$yaml`` substitutions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import yaml

from catalog.descriptors import Invalid, Problem
from catalog.services.common import CATALOG_FILE_NAMES, ImportResult, _Source
from portal import safe_yaml


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _root_for(path: Path, roots: list[Path]) -> Path | None:
    for root in roots:
        if _within(path, root):
            return root
    return None


def _read_file(path: Path, root: Path, result: ImportResult, max_bytes: int | None) -> _Source | None:
    label = str(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            result.problems.append(
                Problem(file=label, document=None, field="", reason=f"the file is larger than {max_bytes} bytes")
            )
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(Problem(file=label, document=None, field="", reason=f"cannot read the file: {exc}"))
        return None
    return _Source(key=f"file:{path}", label=label, text=text, base_dir=path.parent, root=root, max_bytes=max_bytes)


def _collect_files(paths: Iterable[str], roots: list[Path] | None, result: ImportResult) -> tuple[list[Path], list]:
    """Files to read and the orphaning scope (file keys and directory prefixes)."""
    files: list[tuple[Path, Path]] = []
    scope: list[tuple[str, str]] = []  # ("exact", key) or ("prefix", key)
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if roots is not None:
            root = _root_for(path, roots)
            if root is None:
                allowed = ", ".join(str(r) for r in roots) or "none are configured (CATALOG_IMPORT_ROOTS)"
                result.problems.append(
                    Problem(
                        file=str(raw),
                        document=None,
                        field="path",
                        reason=f"refused: the path is outside the import roots ({allowed})",
                    )
                )
                continue
        else:
            root = path if path.is_dir() else path.parent
        if path.is_dir():
            found = sorted(p for name in CATALOG_FILE_NAMES for p in path.rglob(name) if p.is_file())
            if not found:
                result.problems.append(
                    Problem(file=str(path), document=None, field="path", reason="no catalog-info.yaml below it")
                )
            files.extend((p.resolve(), root) for p in found)
            scope.append(("prefix", f"file:{path}/"))
        elif path.is_file():
            files.append((path, root))
            scope.append(("exact", f"file:{path}"))
        else:
            result.problems.append(Problem(file=str(raw), document=None, field="path", reason="no such file or folder"))
    return files, scope


def _substitute(value, source: _Source):
    """Replace ``{$text: ./file}``, ``{$json: ...}`` and ``{$yaml: ...}`` with the file's content."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, target),) = value.items()
            if key in ("$text", "$json", "$yaml"):
                return _read_substitution(key, target, source)
        return {k: _substitute(v, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, source) for v in value]
    return value


def _read_substitution(key: str, target, source: _Source):
    if not isinstance(target, str) or not target:
        raise Invalid(key, "needs a relative file path")
    if source.resolver is not None:  # a Git location: the file comes from the same repository and ref
        return _parse_substitution(key, target, source.resolver.substitution(key, target, source))
    if "://" in target:
        raise Invalid(key, f"'{target}': Bridge reads local files only, not URLs")
    if source.base_dir is None or source.root is None:
        raise Invalid(key, f"'{target}': pasted or uploaded YAML has no folder to read files from; import a folder")
    path = (source.base_dir / target).resolve()
    if not _within(path, source.root):
        raise Invalid(key, f"'{target}' points outside the import root")
    try:
        if source.max_bytes is not None and path.stat().st_size > source.max_bytes:
            raise Invalid(key, f"'{target}' is larger than {source.max_bytes} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(key, f"cannot read '{target}': {exc.__class__.__name__}")
    return _parse_substitution(key, target, text)


def _parse_substitution(key: str, target: str, text: str):
    if key == "$text":
        return text
    try:
        return json.loads(text) if key == "$json" else safe_yaml.load(text, name=target)
    except yaml.YAMLError as exc:
        raise Invalid(key, f"'{target}' is not valid YAML: {safe_yaml.describe(exc, name=target)}")
    except ValueError as exc:
        raise Invalid(key, f"'{target}' is not valid JSON: {exc}")
