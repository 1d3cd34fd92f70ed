"""The HEADS file: the revision graph's heads, committed with the migrations.

``<migrations>/HEADS`` holds a comment line, then one line per head revision,
sorted::

    # migrepo: the revision graph's heads. A git conflict here? Run `flask db merge heads`.
    c6f71ce9d716

``revision``, ``migrate`` and ``merge`` rewrite it after writing a revision, and
``flask db heads --write`` rewrites it on request. Two git branches that each
add a revision on the same head replace the same line with different ids, so
``git merge`` stops with a conflict in this file before either revision
reaches a database. ``flask db merge heads`` joins the heads and rewrites the
file. Only the graph is recorded, not file contents: editing a revision's
body leaves HEADS unchanged.

Nothing here builds the graph or reads revision files; callers pass the graph.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal, NamedTuple

from migrepo.errors import RepositoryError
from migrepo.store.files import atomic_write

if TYPE_CHECKING:
    import networkx as nx

HEADS_FILE = "HEADS"
HEADER = "# migrepo: the revision graph's heads. A git conflict here? Run `flask db merge heads`."
# What git writes around conflicting hunks (``|||||||`` with merge.conflictStyle=diff3).
_CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")


class HeadsConflict(RepositoryError):
    """The HEADS file holds git conflict markers: a merge left it unresolved."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path} holds git conflict markers: the merged branches each added revisions "
            "on the same head; run `flask db merge heads` to join them, which rewrites it"
        )


class Problem(NamedTuple):
    """What is wrong with a HEADS file, as :func:`check` reports it."""

    level: Literal["error", "warning"]
    message: str


def path(directory: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(directory), HEADS_FILE)


def expected_heads(graph: nx.DiGraph) -> list[str]:
    """The heads HEADS should record for ``graph``: its heads, sorted."""
    from migrepo.graph import heads

    return heads(graph)


def render(heads: list[str]) -> str:
    """The content of a HEADS file recording ``heads``.

    >>> print(render(["c3", "b2"]), end="")
    # migrepo: the revision graph's heads. A git conflict here? Run `flask db merge heads`.
    b2
    c3
    """
    return "".join(f"{line}\n" for line in [HEADER, *sorted(heads)])


def parse(text: str, where: str = HEADS_FILE) -> list[str]:
    """The heads recorded in a HEADS file's ``text``; raises :class:`HeadsConflict`.

    Comment lines and blank lines are skipped.

    >>> parse("# comment\\nb2\\nc3\\n")
    ['b2', 'c3']
    """
    heads = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(_CONFLICT_MARKERS):
            raise HeadsConflict(where)
        if line and not line.startswith("#"):
            heads.append(line)
    return heads


def read(directory: str | os.PathLike[str]) -> list[str] | None:
    """The heads recorded in ``directory``'s HEADS file, or None if it has none.

    Raises :class:`HeadsConflict` when a git merge left conflict markers in it.
    """
    where = path(directory)
    try:
        with open(where, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return None
    return parse(text, where)


def write(directory: str | os.PathLike[str], heads: list[str]) -> str:
    """Write ``directory``'s HEADS file atomically; returns its path.

    The content goes to a new file beside it (created with the umask's mode),
    which then replaces HEADS in one step: a reader sees the old file or the
    new one, never half of one.
    """
    where = path(directory)
    atomic_write(where, render(heads))
    return where


def check(directory: str | os.PathLike[str], graph: nx.DiGraph | None) -> Problem | None:
    """What is wrong with ``directory``'s HEADS file, or None.

    Conflict markers and a disagreement with ``graph``'s heads are errors;
    a missing file is a warning. With ``graph=None`` (the graph is unsound,
    so its heads mean nothing yet) only the file itself is checked.
    """
    try:
        recorded = read(directory)
    except HeadsConflict as exc:
        return Problem("error", str(exc))
    if recorded is None:
        return Problem(
            "warning",
            f"no {HEADS_FILE} file in {os.fspath(directory)}: "
            "`flask db heads --write` creates it; commit it with the migrations",
        )
    if graph is None:
        return None
    expected = expected_heads(graph)
    if sorted(recorded) == expected:
        return None
    fix = (
        "run `flask db merge heads` to join them (it rewrites the file), "
        "or `flask db heads --write` to record them as they are"
        if len(expected) > 1
        else "run `flask db heads --write` to rewrite it"
    )
    return Problem(
        "error",
        f"{path(directory)} records heads ({', '.join(sorted(recorded)) or 'none'}) "
        f"but the graph's heads are ({', '.join(expected) or 'none'}): {fix}",
    )
