"""Server-side layout of the dependency graph: columns by level, drawn as SVG by a template.

Dependents are on the left, the entity in the middle, what it depends on to the
right. A level with many nodes wraps into several columns of ``ROWS`` so that
200 neighbours stay readable without any script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog.descriptors import format_ref

ROWS = 20
WIDTH, HEIGHT = 210, 30
CHARS = 31  # what fits in WIDTH at 12px
COL_GAP, ROW_GAP = 60, 10
PAD = 10


@dataclass
class Box:
    ref: str
    label: str
    kind: str
    url: str
    x: int
    y: int
    centre: bool
    resolved: bool

    @property
    def right(self) -> int:
        return self.x + WIDTH

    @property
    def middle(self) -> int:
        return self.y + HEIGHT // 2


BEND = COL_GAP - 5  # control-point offset of an edge that leaves a column and comes back: it peaks ~3/4 of it out


def _edge(start: Box, end: Box) -> str:
    """An SVG path from ``start`` to ``end`` (the arrow head is drawn at ``end``).

    Between columns it leaves the side of ``start`` that faces ``end`` and enters ``end`` on the
    side facing ``start``. Between two boxes of the same column (a level wrapped into one column,
    neighbours that depend on each other) it swings out to the right of the column and comes back,
    so it never runs through either box, and the arrow still points at ``end``.
    """
    if start.x == end.x:
        x, bend = start.right, start.right + BEND
        return f"M {x} {start.middle} C {bend} {start.middle}, {bend} {end.middle}, {x} {end.middle}"
    if start.x < end.x:
        x1, x2 = start.right, end.x
    else:
        x1, x2 = start.x, end.right
    mid = (x1 + x2) / 2
    return f"M {x1} {start.middle} C {mid:g} {start.middle}, {mid:g} {end.middle}, {x2} {end.middle}"


def layout(graph: dict, url_for) -> dict:
    by_level: dict[int, list] = {}
    for node in graph["nodes"].values():
        by_level.setdefault(node.level, []).append(node)
    columns: list[list] = []
    for level in sorted(by_level):
        nodes = sorted(by_level[level], key=lambda n: n.ref)
        for start in range(0, len(nodes), ROWS):
            columns.append(nodes[start : start + ROWS])
    tallest = max(len(c) for c in columns)
    height = PAD * 2 + tallest * HEIGHT + (tallest - 1) * ROW_GAP
    boxes: dict[str, Box] = {}
    for index, column in enumerate(columns):
        column_height = len(column) * HEIGHT + (len(column) - 1) * ROW_GAP
        top = (height - column_height) // 2
        for row, node in enumerate(column):
            entity = node.entity
            label = (entity.title or entity.name) if entity else format_ref(node.ref)
            kind = node.ref.split(":", 1)[0]
            room = CHARS - len(kind) - 3  # " · kind"
            boxes[node.ref] = Box(
                ref=node.ref,
                label=label if len(label) <= room else label[: room - 1] + "…",
                kind=kind,
                url=url_for(node.ref),
                x=PAD + index * (WIDTH + COL_GAP),
                y=top + row * (HEIGHT + ROW_GAP),
                centre=node.level == 0,
                resolved=entity is not None,
            )
    edges = [_edge(boxes[a], boxes[b]) for a, b in graph["edges"] if a in boxes and b in boxes and a != b]
    # Room on the right for the edges that swing out of the last column.
    width = PAD * 2 + len(columns) * WIDTH + (len(columns) - 1) * COL_GAP + BEND
    return {
        "boxes": list(boxes.values()),
        "edges": edges,
        "width": width,
        "height": height,
        "box_width": WIDTH,
        "box_height": HEIGHT,
        "columns": math.ceil(width / (WIDTH + COL_GAP)),
    }
