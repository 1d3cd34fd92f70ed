"""Read a drawing from ``render_graph`` back into links, to check the lanes.

This reader knows the drawing's grammar, not the renderer's code: a revision
line holds one ``*`` and straight lanes ``|``; other lines hold ``|`` (down),
``\\`` (down and one column right), ``/`` (down and one column left), and runs
of ``_`` ending in ``/`` (down to the column left of the first ``_``).  Lane
columns are the even character positions.  It follows every lane from each
revision down to the revisions it ends at, and fails on a lane that starts
from nothing or stops short.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

_GRAPH_PREFIX = re.compile(r"[*|/\\_ ]*")


class DrawingError(AssertionError):
    pass


@dataclass
class Drawing:
    rows: dict[str, int] = field(default_factory=dict)
    """The line number of each revision's ``*``."""
    reached: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """The revisions that the lanes leaving each revision lead to."""


def read_drawing(lines: list[str]) -> Drawing:
    drawing = Drawing()
    lanes: dict[int, set[str]] = {}  # column at the bottom of the last line -> revisions
    optional: set[int] = set()  # a column leaving a `*`, which may stop right away
    for number, line in enumerate(lines):
        graph = _GRAPH_PREFIX.match(line).group(0)  # type: ignore[union-attr]
        text = line[len(graph) :]
        below: dict[int, set[str]] = defaultdict(set)
        used: set[int] = set()
        stars = [pos for pos, char in enumerate(graph) if char == "*"]
        if len(stars) > 1:
            raise DrawingError(f"line {number}: more than one revision: {line!r}")
        if stars:
            if set(graph) - {"*", "|", " "}:
                raise DrawingError(f"line {number}: a revision line moves lanes: {line!r}")
            if stars[0] % 2 or not text:
                raise DrawingError(f"line {number}: misplaced revision: {line!r}")
            rev = text.split()[0]
            if rev in drawing.rows:
                raise DrawingError(f"line {number}: {rev} drawn twice")
            drawing.rows[rev] = number
            col = stars[0] // 2
            for child in lanes.get(col, ()):
                drawing.reached[child].add(rev)
            used.add(col)
            below[col].add(rev)
        for pos, char in enumerate(graph):
            if char in " *_":
                if char == "_":
                    _check_run(graph, pos, number)
                continue
            top, bottom = _link(graph, pos, number)
            if top not in lanes:
                raise DrawingError(f"line {number}: a lane starts from nothing at {pos}: {line!r}")
            used.add(top)
            below[bottom] |= lanes[top]
        stopped = set(lanes) - used - optional
        if stopped:
            raise DrawingError(f"line {number}: lane(s) {sorted(stopped)} stop: {line!r}")
        lanes = dict(below)
        optional = {stars[0] // 2} if stars else set()
    if set(lanes) - optional:
        raise DrawingError("lanes run past the last line")
    return drawing


def _link(graph: str, pos: int, number: int) -> tuple[int, int]:
    """The (top, bottom) lane columns that the character at ``pos`` joins."""
    char = graph[pos]
    if pos % 2 == 0:
        if char != "|":
            raise DrawingError(f"line {number}: {char!r} in a lane column at {pos}")
        return pos // 2, pos // 2
    if char == "\\":
        return (pos - 1) // 2, (pos + 1) // 2
    if char == "/":
        left = pos
        while left >= 2 and graph[left - 2] == "_":
            left -= 2
        return (pos + 1) // 2, (left - 1) // 2
    raise DrawingError(f"line {number}: {char!r} between lane columns at {pos}")


def _check_run(graph: str, pos: int, number: int) -> None:
    """A ``_`` must sit between lanes and lead right, over ``_``s, to a ``/``."""
    right = pos
    while right + 2 < len(graph) and graph[right + 2] == "_":
        right += 2
    if pos % 2 == 0 or right + 2 >= len(graph) or graph[right + 2] != "/":
        raise DrawingError(f"line {number}: a '_' at {pos} leads nowhere: {graph!r}")
