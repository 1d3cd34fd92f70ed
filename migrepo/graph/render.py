r"""Draw a revision graph as text, in the style of ``git log --graph --oneline``.

The drawing has one line per revision, newest first, and every revision is
drawn above its parents.  Lines that only move lanes may come in between::

    * c3 (head, mergepoint) merge heads
    |\
    | * b2 [billing] add invoices (depends on: a2)
    * | a2 add email
    |/
    * a1 (branchpoint) create users

**Revision lines.**  The lane prefix, then the revision id, the markers in one
parenthesised group (``head``, ``branchpoint``, ``mergepoint`` as defined by
:mod:`migrepo.graph.queries`, and ``current`` for the revisions passed as
``current``), the branch labels in one bracketed group, the message on one
line, and the ``depends_on`` targets as ``(depends on: ...)``.  With
``verbose=True`` each revision gets indented detail lines (its path and
parents) that keep the lane prefix.

**Lanes.**  Only parent links are drawn; dependencies are text on the line.
``*`` is the revision, ``|`` a lane going straight down, and ``/`` or ``\`` a
lane moving one column left or right.  A lane that must pass other lanes to
reach its column is drawn as a run of ``_`` ending in ``/``; the lanes it
passes keep their ``|``::

    * c (head)
    | * b (head)
    | | * d (head)
    |_|/
    * | a (branchpoint)
     /
    * x

A lane that ends at a base lets the lanes on its right move left (`` /``
above).  When a base is directly followed by an unrelated revision in the
same column, a line without that lane is put between them, so the two never
look connected.

Colours are ANSI escapes, used only with ``color=True``; without it the output
has no escape codes at all (control characters in messages are escaped too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import count

import networkx as nx

from migrepo._text import printable
from migrepo.graph.queries import (
    RevisionNode,
    branch_points,
    heads,
    merge_points,
    newest_first,
    node,
)
from migrepo.graph.records import RevisionRecord

_LANE_COLORS = ("31", "32", "33", "34", "35", "36")
_REVISION_COLOR = "33"
_MARKER_COLOR = "1;32"
_LABEL_COLOR = "35"
_DEPENDENCY_COLOR = "2"

# A drawn character and its colour code, keyed by its position in the line.
_Cells = dict[int, tuple[str, str]]


def render_graph(
    G: nx.DiGraph,
    *,
    order: Iterable[str] | None = None,
    current: Iterable[str] = (),
    color: bool = False,
    verbose: bool = False,
) -> list[str]:
    """Draw ``G`` as lines of text, newest revision first.

    Parameters
    ----------
    G : nx.DiGraph
        A revision graph from :func:`~migrepo.graph.build_graph`.
    order : iterable of str, optional
        The revisions to draw, each child before its parents; defaults to
        :func:`~migrepo.graph.queries.newest_first`.  It may be a subset:
        links to revisions left out are not drawn.
    current : iterable of str
        Revisions to mark ``(current)``, such as the database's.
    color : bool
        Add ANSI colours.  The caller decides (terminal, ``NO_COLOR``).
    verbose : bool
        Add detail lines under each revision.

    Raises
    ------
    UnknownRevision
        ``order`` names a revision that is not in ``G``.
    ValueError
        ``order`` repeats a revision or lists a parent before its child.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a", message="first"),
    ...                  RevisionRecord("b", ("a",)), RevisionRecord("c", ("a",))])
    >>> print("\\n".join(render_graph(G, current=["b"])))
    * c (head)
    | * b (head, current)
    |/
    * a (branchpoint) first
    """
    revisions = newest_first(G) if order is None else list(order)
    shown = set(revisions)
    if len(shown) != len(revisions):
        raise ValueError("order lists a revision more than once")
    marks = _Marks(set(heads(G)), set(branch_points(G)), set(merge_points(G)), set(current))
    lanes = _Lanes(color)
    lines: list[str] = []
    drawn: set[str] = set()
    for rev in revisions:
        view = node(G, rev)
        parents = view.parents
        early = drawn.intersection(parents)
        if early:
            raise ValueError(f"order lists {min(early)} before its child {rev}")
        drawn.add(rev)
        details = _details(view.record, parents) if verbose else []
        text = _describe(view, marks, color)
        lines += lanes.draw(rev, [parent for parent in parents if parent in shown], text, details)
    return lines


@dataclass(frozen=True, slots=True)
class _Marks:
    heads: set[str]
    branch_points: set[str]
    merge_points: set[str]
    current: set[str]

    def of(self, rev: str) -> list[str]:
        """The markers of ``rev``, in a fixed order."""
        found = []
        if rev in self.heads:
            found.append("head")
        if rev in self.branch_points:
            found.append("branchpoint")
        if rev in self.merge_points:
            found.append("mergepoint")
        if rev in self.current:
            found.append("current")
        return found


def _describe(view: RevisionNode, marks: _Marks, color: bool) -> str:
    """The text of a revision's line, after the lane prefix."""
    record = view.record
    words = [_paint(_clean(view.revision), _REVISION_COLOR, color)]
    flags = marks.of(view.revision)
    if flags:
        words.append(_paint(f"({', '.join(flags)})", _MARKER_COLOR, color))
    if record.branch_labels:
        labels = ", ".join(_clean(label) for label in record.branch_labels)
        words.append(_paint(f"[{labels}]", _LABEL_COLOR, color))
    message = _clean(" ".join(record.message.split()))
    if message:
        words.append(message)
    dependencies = view.dependencies
    if dependencies:
        targets = ", ".join(_clean(rev) for rev in dependencies)
        words.append(_paint(f"(depends on: {targets})", _DEPENDENCY_COLOR, color))
    return " ".join(words)


def _details(record: RevisionRecord, parents: Sequence[str]) -> list[str]:
    """The verbose lines shown under a revision."""
    details = [f"path: {_clean(record.path)}"] if record.path else []
    details.append(f"parents: {', '.join(_clean(rev) for rev in parents) or '(none)'}")
    return details


class _Lanes:
    """The columns of the drawing and the revision each one leads down to.

    Several lanes may lead to the same revision (one per child drawn above
    it); they are joined into the leftmost one just before it is drawn.
    """

    def __init__(self, color: bool) -> None:
        self.color = color
        self.revs: list[str] = []
        self.colors: list[str] = []
        self.base_above: int | None = None
        self._palette = (_LANE_COLORS[i % len(_LANE_COLORS)] for i in count())

    def draw(self, rev: str, parents: Sequence[str], text: str, details: list[str]) -> list[str]:
        """Return the lines for ``rev`` and move the lanes on to its parents."""
        lines = self._join(rev)
        col = self.revs.index(rev)
        lines.append(f"{self._lanes_row('*', col)} {text}")
        if details:
            prefix = self._lanes_row("|" if parents else " ", col)
            lines += [f"{prefix}   {detail}" for detail in details]
        lines += self._split(col, parents)
        ended_here = not parents and not details and col == len(self.revs)
        self.base_above = col if ended_here else None
        return lines

    def _join(self, rev: str) -> list[str]:
        """Join every lane leading to ``rev`` into the leftmost one, or open one."""
        found = self.revs.count(rev)
        if found == 0:
            spacer = [self._lanes_row()] if self.base_above == len(self.revs) else []
            self.revs.append(rev)
            self.colors.append(next(self._palette))
            return spacer
        first = self.revs.index(rev)
        lines = []
        for _ in range(found - 1):
            # One line per extra lane: it runs left under the lanes between
            # (``_``) into ``first``, and the lanes on its right close up.
            other = self.revs.index(rev, first + 1)
            cells = {2 * x: ("|", self.colors[x]) for x in range(other)}
            for x in range(first, other - 1):
                cells[2 * x + 1] = ("_", self.colors[other])
            cells[2 * other - 1] = ("/", self.colors[other])
            for x in range(other + 1, len(self.revs)):
                cells[2 * x - 1] = ("/", self.colors[x])
            lines.append(self._row(cells))
            del self.revs[other], self.colors[other]
        return lines

    def _split(self, col: int, parents: Sequence[str]) -> list[str]:
        """Replace the lane at ``col`` by one lane per parent."""
        if len(parents) == 1:
            self.revs[col] = parents[0]
            return []
        extra = len(parents) - 1
        colors = [self.colors[col]] + [next(self._palette) for _ in parents[1:]] if parents else []
        moves = [(x, x, self.colors[x]) for x in range(col)]
        moves += [(col, col + i, color) for i, color in enumerate(colors)]
        moves += [(x, x + extra, self.colors[x]) for x in range(col + 1, len(self.revs))]
        self.revs[col : col + 1] = parents
        self.colors[col : col + 1] = colors
        return self._steps(moves)

    def _steps(self, moves: list[tuple[int, int, str]]) -> list[str]:
        """Draw lanes moving from one column to another, one column per line.

        The moves never cross (their targets keep the order of their
        sources), so the lanes can all move at once.
        """
        distance = max((abs(bottom - top) for top, bottom, _ in moves), default=0)
        lines = []
        for step in range(distance):
            cells: _Cells = {}
            for top, bottom, color in moves:
                if top == bottom or step >= abs(bottom - top):
                    cells.setdefault(2 * bottom, ("|", color))
                elif bottom > top:
                    cells.setdefault(2 * (top + step) + 1, ("\\", color))
                else:
                    cells.setdefault(2 * (top - step) - 1, ("/", color))
            lines.append(self._row(cells))
        return lines

    def _lanes_row(self, mark: str = "|", col: int = -1) -> str:
        """A line with every lane going straight down, except ``mark`` at ``col``."""
        if self.color:
            chars = [_paint("|", color, True) for color in self.colors]
        else:
            chars = ["|"] * len(self.revs)
        if col >= 0:
            chars[col] = _paint(mark, self.colors[col], self.color and mark != " ")
        return " ".join(chars)

    def _row(self, cells: _Cells) -> str:
        """Turn cells into a line."""
        chars = [" "] * (max(cells, default=-1) + 1)
        for position, (char, color) in cells.items():
            chars[position] = _paint(char, color, self.color)
        return "".join(chars)


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


_clean = printable  # escape control characters: safe to print on one line
