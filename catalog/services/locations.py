"""Location entities: following their targets within the import root."""

from __future__ import annotations

import glob
from pathlib import Path

from catalog.descriptors import Descriptor, Problem
from catalog.services.common import ImportResult, _Source
from catalog.services.reading import _read_file, _within


def _location_targets(descriptor: Descriptor, source: _Source, index: int, result: ImportResult, roots):
    spec = descriptor.spec
    targets = ([spec["target"]] if spec.get("target") else []) + list(spec.get("targets") or [])

    def problem(reason: str) -> None:
        result.problems.append(
            Problem(file=source.label, document=index, field="spec.target", reason=reason, entity=descriptor.ref_key)
        )

    if source.resolver is not None:  # a Git location: targets are files of the same repository and ref
        return source.resolver.targets(targets, source, problem)
    if spec.get("type", "file") not in ("file", "", None) or any("://" in t for t in targets):
        problem("only file locations are followed; Bridge does not fetch URLs")
        return []
    if source.base_dir is None or source.root is None:
        problem("a Location in pasted or uploaded YAML cannot be followed; import its folder instead")
        return []
    out: list[_Source] = []
    for target in targets:
        pattern = str(source.base_dir / target)
        matches = sorted(glob.glob(pattern, recursive=True)) if any(c in target for c in "*?[") else [pattern]
        for match in matches:
            path = Path(match).resolve()
            if not _within(path, source.root):
                problem(f"'{target}' points outside the import root")
                continue
            if not path.is_file():
                problem(f"'{target}' does not exist")
                continue
            read = _read_file(path, source.root, result, source.max_bytes)
            if read is not None:
                out.append(read)
    return out
