"""Build the revision graph from plain records.

The graph is an ``nx.DiGraph`` whose nodes are revision ids.  Each node has one
attribute, ``record``, the :class:`RevisionRecord` it came from.  Each edge
points from the older revision to the newer one and has one attribute,
``kind``:

``"parent"`` (:data:`PARENT`)
    from a ``down_revision`` to the revision that names it.
``"dependency"`` (:data:`DEPENDENCY`)
    from a ``depends_on`` target to the revision that names it.  When a
    revision names the same revision both ways, the edge is a parent edge.

A ``depends_on`` entry may be a revision id or a branch label.  As in
Alembic, a label stands for the one revision that declares it in its own
``branch_labels``; it is not propagated along the branch here.  A label that
could mean more than one revision (declared twice, or equal to another
revision's id) is an error.

The graph also carries ``G.graph["branch_labels"]``, a dict from each
unambiguous label to the revision that declares it.

Nothing here reads files: the script directory is read elsewhere and handed
over as records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import networkx as nx

from migrepo.errors import (
    CycleDetected,
    DuplicateBranchLabel,
    DuplicateRevision,
    GraphError,
    MissingParent,
)
from migrepo.graph.records import RevisionRecord

PARENT: Final = "parent"
DEPENDENCY: Final = "dependency"

_NO_PATH = "<no path>"


def build_graph(records: Iterable[RevisionRecord]) -> nx.DiGraph:
    """Build the revision graph, or raise the first problem found.

    Parameters
    ----------
    records : iterable of RevisionRecord
        Every revision, in any order.  The order is kept as the order of
        ``G.nodes``, which :func:`~migrepo.graph.queries.newest_first` uses to
        break ties (a later record counts as newer).

    Returns
    -------
    nx.DiGraph
        Edges point from parent to child; see the module docstring.

    Raises
    ------
    DuplicateRevision, DuplicateBranchLabel, MissingParent, CycleDetected
        The first problem :func:`check_records` would report.

    Examples
    --------
    >>> G = build_graph([RevisionRecord("a1"), RevisionRecord("b2", ("a1",))])
    >>> list(G.edges(data="kind"))
    [('a1', 'b2', 'parent')]
    >>> build_graph([RevisionRecord("b2", ("a1",))])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    migrepo.errors.MissingParent: revision b2 names parent a1, ...
    """
    graph, problems = _build(list(records))
    if problems:
        raise problems[0]
    return graph


def check_records(records: Iterable[RevisionRecord]) -> list[GraphError]:
    """Return every problem in ``records`` at once, without raising.

    The problems come grouped by kind, in this order: duplicate revision ids,
    ambiguous branch labels, missing parents or dependencies, cycles.  Within
    a kind they follow the input order; cycles are ordered by their first
    member.  Each strongly connected group of revisions is reported as one
    cycle, so a tangle of crossing cycles yields one error rather than all of
    its (possibly exponentially many) loops.

    Examples
    --------
    >>> problems = check_records([
    ...     RevisionRecord("a1", ("zz",), path="a1.py"),
    ...     RevisionRecord("a1", path="a1_copy.py"),
    ... ])
    >>> [type(problem).__name__ for problem in problems]
    ['DuplicateRevision', 'MissingParent']
    """
    return _build(list(records))[1]


def _build(records: Sequence[RevisionRecord]) -> tuple[nx.DiGraph, list[GraphError]]:
    """Build as much of the graph as possible and collect every problem."""
    by_id: dict[str, RevisionRecord] = {}
    paths: dict[str, list[str]] = {}
    for record in records:
        by_id.setdefault(record.revision, record)
        paths.setdefault(record.revision, []).append(record.path or _NO_PATH)
    problems: list[GraphError] = [
        DuplicateRevision(revision, found) for revision, found in paths.items() if len(found) > 1
    ]

    labels, ambiguous = _label_owners(by_id)
    problems += ambiguous
    ambiguous_labels = {error.label for error in ambiguous}

    graph = nx.DiGraph(branch_labels=labels)
    for revision, record in by_id.items():
        graph.add_node(revision, record=record)
    for record in records:
        first = by_id[record.revision] is record
        for parent in record.down_revisions:
            if parent not in by_id:
                problems.append(MissingParent(record.revision, parent, record.path))
            elif first:
                graph.add_edge(parent, record.revision, kind=PARENT)
        for name in record.dependencies:
            target = name if name in by_id else labels.get(name)
            if target is None and name not in ambiguous_labels:
                problems.append(
                    MissingParent(record.revision, name, record.path, field="depends_on")
                )
            elif target is not None and first and not graph.has_edge(target, record.revision):
                graph.add_edge(target, record.revision, kind=DEPENDENCY)

    problems += [CycleDetected(cycle) for cycle in find_cycles(graph)]
    return graph, problems


def _label_owners(
    by_id: dict[str, RevisionRecord],
) -> tuple[dict[str, str], list[DuplicateBranchLabel]]:
    """Map each branch label to the revision declaring it; report ambiguous ones."""
    owners: dict[str, list[str]] = {}
    for revision, record in by_id.items():
        for label in record.branch_labels:
            found = owners.setdefault(label, [label] if label in by_id else [])
            if revision not in found:
                found.append(revision)
    labels = {label: found[0] for label, found in owners.items() if len(found) == 1}
    ambiguous = [
        DuplicateBranchLabel(label, found) for label, found in owners.items() if len(found) > 1
    ]
    return labels, ambiguous


def find_cycles(G: nx.DiGraph) -> list[list[str]]:
    """Return one cycle per strongly connected group of revisions.

    Each cycle lists its members following the links from child to parent
    (each member's ``down_revision`` or dependency is the next one, and the
    last member's is the first), starting at the smallest id.  Cycles are
    sorted by that first member.

    Examples
    --------
    >>> G = nx.DiGraph()
    >>> G.add_edges_from([("a", "b"), ("b", "c"), ("c", "a"), ("d", "d")])
    >>> find_cycles(G)
    [['a', 'c', 'b'], ['d']]
    """
    backwards = G.reverse(copy=False)
    cycles = [[revision] for revision in nx.nodes_with_selfloops(G)]
    for group in nx.strongly_connected_components(G):
        if len(group) > 1:
            start = min(group)
            edges = nx.find_cycle(backwards.subgraph(group), source=start)
            members = [child for child, _parent in edges]
            first = members.index(min(members))
            cycles.append(members[first:] + members[:first])
    return sorted(cycles)
