"""Questions about a revision graph built by :func:`~migrepo.graph.build_graph`.

Every function takes the graph first and returns data; none of them prints.

As in Alembic, heads, bases, branch points and merge points are defined by
parent (``down_revision``) links alone: a ``depends_on`` link does not make a
branch, and a revision that others only depend on is still a head.
Ancestors and descendants follow both kinds of link unless told otherwise,
because a dependency must be applied before the revision that names it.

Lists of revisions come sorted by revision id, so they do not depend on the
order of the input, except :func:`newest_first`, whose order is the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from migrepo.errors import CycleDetected, UnknownRevision
from migrepo.graph.build import DEPENDENCY, PARENT, find_cycles
from migrepo.graph.records import RevisionRecord


def heads(G: nx.DiGraph) -> list[str]:
    """Return the revisions that no other revision names as its parent.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("c", ("a",)),
    ...                  RevisionRecord("b", ("a",), dependencies=("c",))])
    >>> heads(G)
    ['b', 'c']
    """
    return sorted(rev for rev in G if not _children(G, rev))


def bases(G: nx.DiGraph) -> list[str]:
    """Return the revisions that have no parent (they may have dependencies).

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("b"), RevisionRecord("a"),
    ...                  RevisionRecord("c", ("a", "b"))])
    >>> bases(G)
    ['a', 'b']
    """
    return sorted(rev for rev in G if not _parents(G, rev))


def branch_points(G: nx.DiGraph) -> list[str]:
    """Return the revisions that two or more revisions name as their parent.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",)),
    ...                  RevisionRecord("c", ("a",))])
    >>> branch_points(G)
    ['a']
    """
    return sorted(rev for rev in G if len(_children(G, rev)) > 1)


def merge_points(G: nx.DiGraph) -> list[str]:
    """Return the revisions that have two or more parents.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b"),
    ...                  RevisionRecord("m", ("a", "b"))])
    >>> merge_points(G)
    ['m']
    """
    return sorted(rev for rev in G if len(_parents(G, rev)) > 1)


def ancestors(G: nx.DiGraph, rev: str, *, dependencies: bool = True) -> list[str]:
    """Return every revision that must be applied before ``rev``.

    Parameters
    ----------
    G : nx.DiGraph
        A revision graph.
    rev : str
        A revision id in ``G``; raises :class:`UnknownRevision` otherwise.
    dependencies : bool
        Follow ``depends_on`` links as well as parent links (the default).

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",)),
    ...                  RevisionRecord("x"), RevisionRecord("c", ("b",), dependencies=("x",))])
    >>> ancestors(G, "c")
    ['a', 'b', 'x']
    >>> ancestors(G, "c", dependencies=False)
    ['a', 'b']
    """
    _require(G, rev)
    return sorted(nx.ancestors(G if dependencies else _parent_view(G), rev))


def descendants(G: nx.DiGraph, rev: str, *, dependencies: bool = True) -> list[str]:
    """Return every revision that has ``rev`` among its ancestors.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",)),
    ...                  RevisionRecord("d", dependencies=("b",))])
    >>> descendants(G, "a")
    ['b', 'd']
    >>> descendants(G, "a", dependencies=False)
    ['b']
    """
    _require(G, rev)
    return sorted(nx.descendants(G if dependencies else _parent_view(G), rev))


def newest_first(G: nx.DiGraph) -> list[str]:
    """Return every revision, each one before its parents and dependencies.

    The order is deterministic and keeps a line of development together, as
    ``git log --topo-order`` does.  A revision is *ready* once all of its
    children and dependents are listed; ready revisions wait on a stack, and
    the one that became ready last is listed next:

    1. The revisions that nothing builds on (no children, no dependents) are
       ready from the start; the one latest in ``G.nodes`` (for a graph from
       :func:`build_graph`, the latest in the input) comes first.
    2. Listing a revision may make its parents and dependencies ready; they
       are stacked so that its first parent comes next, then its other
       parents, then its dependencies, in the order the record names them.

    Raises :class:`CycleDetected` if the graph has a cycle.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",)),
    ...                  RevisionRecord("c", ("a",)), RevisionRecord("d", ("c",))])
    >>> newest_first(G)
    ['d', 'c', 'b', 'a']
    """
    waiting = {rev: len(later) for rev, later in G._succ.items()}
    stack = [rev for rev, count in waiting.items() if count == 0]
    order: list[str] = []
    while stack:
        rev = stack.pop()
        order.append(rev)
        for earlier in reversed(_parents(G, rev) + _dependencies(G, rev)):
            waiting[earlier] -= 1
            if waiting[earlier] == 0:
                stack.append(earlier)
    if len(order) < len(G):
        raise CycleDetected(find_cycles(G)[0])
    return order


# Not slots=True: on Python 3.11 a frozen dataclass with slots raises TypeError,
# not FrozenInstanceError, when a property is assigned to.
@dataclass(frozen=True)
class RevisionNode:
    """A read-only view of one revision in a graph; get one with :func:`node`.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",)),
    ...                  RevisionRecord("c", ("a",), dependencies=("b",))])
    >>> a = node(G, "a")
    >>> a.is_base, a.is_branch_point, a.children
    (True, True, ('b', 'c'))
    >>> node(G, "c").dependencies, node(G, "b").is_head
    (('b',), True)
    """

    graph: nx.DiGraph = field(repr=False, compare=False)
    revision: str

    @property
    def record(self) -> RevisionRecord:
        """The record this revision was built from."""
        record: RevisionRecord = self.graph.nodes[self.revision]["record"]
        return record

    @property
    def parents(self) -> tuple[str, ...]:
        """The ``down_revision`` ids, in the order the record names them."""
        return tuple(_parents(self.graph, self.revision))

    @property
    def children(self) -> tuple[str, ...]:
        """The revisions naming this one as ``down_revision``, sorted by id."""
        return tuple(sorted(_children(self.graph, self.revision)))

    @property
    def dependencies(self) -> tuple[str, ...]:
        """The ``depends_on`` targets that are not parents, labels resolved, in order."""
        return tuple(_dependencies(self.graph, self.revision))

    @property
    def is_head(self) -> bool:
        """No revision names this one as its parent."""
        return not _children(self.graph, self.revision)

    @property
    def is_base(self) -> bool:
        """This revision has no parent."""
        return not _parents(self.graph, self.revision)

    @property
    def is_branch_point(self) -> bool:
        """Two or more revisions name this one as their parent."""
        return len(_children(self.graph, self.revision)) > 1

    @property
    def is_merge_point(self) -> bool:
        """This revision has two or more parents."""
        return len(_parents(self.graph, self.revision)) > 1


def node(G: nx.DiGraph, rev: str) -> RevisionNode:
    """Return a :class:`RevisionNode` view of ``rev``.

    Raises :class:`UnknownRevision` if ``rev`` is not a revision id in ``G``.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a"), RevisionRecord("b", ("a",))])
    >>> node(G, "b")
    RevisionNode(revision='b')
    >>> node(G, "a").is_head
    False
    """
    _require(G, rev)
    return RevisionNode(G, rev)


def _require(G: nx.DiGraph, rev: str) -> None:
    if rev not in G:
        raise UnknownRevision(rev)


# These helpers read networkx's adjacency dicts (``G._pred``, ``G._succ``) as
# networkx's own algorithms do: going through the ``G.pred`` views costs several
# times more, and rendering asks these questions for every revision.


def _parents(G: nx.DiGraph, rev: str) -> list[str]:
    """The parents in the record's order, which the edges do not keep."""
    pred = G._pred[rev]
    named = dict.fromkeys(G._node[rev]["record"].down_revisions)
    return [parent for parent in named if parent in pred]


def _dependencies(G: nx.DiGraph, rev: str) -> list[str]:
    """The dependency edges' sources, in the order the record names them."""
    pred = G._pred[rev]
    labels = G.graph.get("branch_labels", {})
    found = []
    for name in G._node[rev]["record"].dependencies:
        target = name if name in pred else labels.get(name)
        if target in pred and pred[target]["kind"] == DEPENDENCY and target not in found:
            found.append(target)
    return found


def _children(G: nx.DiGraph, rev: str) -> list[str]:
    return [child for child, edge in G._succ[rev].items() if edge["kind"] == PARENT]


def _parent_view(G: nx.DiGraph) -> nx.DiGraph:
    return nx.subgraph_view(G, filter_edge=lambda u, v: G.edges[u, v]["kind"] == PARENT)
