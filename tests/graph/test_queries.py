"""Queries on graphs from literal records, and properties on random graphs."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest
from hypothesis import given

from migrepo.errors import CycleDetected, UnknownRevision
from migrepo.graph import (
    RevisionRecord,
    ancestors,
    bases,
    branch_points,
    build_graph,
    descendants,
    heads,
    merge_points,
    newest_first,
    node,
)

from .strategies import FAST, dag_records

R = RevisionRecord

LINEAR = [R("a"), R("b", ("a",)), R("c", ("b",))]
BRANCH = [R("a"), R("b", ("a",)), R("c", ("a",))]
MERGE = [*BRANCH, R("m", ("b", "c"))]
OCTOPUS_3 = [R("a"), R("b", ("a",)), R("c", ("a",)), R("d", ("a",)), R("m", ("b", "c", "d"))]
OCTOPUS_4 = [R("w"), R("x"), R("y"), R("z"), R("m", ("w", "x", "y", "z"))]
BASES = [R("a"), R("x"), R("b", ("a",)), R("y", ("x",))]
DEPENDS = [R("a"), R("b", ("a",)), R("x"), R("y", ("x",), dependencies=("b",))]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (LINEAR, (["c"], ["a"], [], [])),
        (BRANCH, (["b", "c"], ["a"], ["a"], [])),
        (MERGE, (["m"], ["a"], ["a"], ["m"])),
        (OCTOPUS_3, (["m"], ["a"], ["a"], ["m"])),
        (OCTOPUS_4, (["m"], ["w", "x", "y", "z"], [], ["m"])),
        (BASES, (["b", "y"], ["a", "x"], [], [])),
        # As in Alembic, depends_on makes neither a branch point nor a non-head.
        (DEPENDS, (["b", "y"], ["a", "x"], [], [])),
    ],
    ids=["linear", "branch", "merge", "octopus-3", "octopus-4", "bases", "depends_on"],
)
def test_shape_queries(records: list[RevisionRecord], expected: tuple) -> None:
    G = build_graph(records)
    assert (heads(G), bases(G), branch_points(G), merge_points(G)) == expected


def test_ancestors_and_descendants_follow_dependencies_by_default() -> None:
    G = build_graph(DEPENDS)
    assert ancestors(G, "y") == ["a", "b", "x"]
    assert ancestors(G, "y", dependencies=False) == ["x"]
    assert descendants(G, "a") == ["b", "y"]
    assert descendants(G, "a", dependencies=False) == ["b"]
    assert ancestors(G, "a") == descendants(G, "y") == []


def test_unknown_revision() -> None:
    G = build_graph(LINEAR)
    for query in (ancestors, descendants, node):
        with pytest.raises(UnknownRevision) as caught:
            query(G, "nope")
        assert caught.value.argument == "nope"


def test_node_view() -> None:
    G = build_graph([*OCTOPUS_3, R("e", ("c",), dependencies=("b", "d"))])
    c = node(G, "c")
    flags = (c.is_head, c.is_base, c.is_branch_point, c.is_merge_point)
    assert flags == (False, False, True, False)
    assert (c.parents, c.children, c.dependencies) == (("a",), ("e", "m"), ())
    m = node(G, "m")
    assert (m.is_head, m.is_merge_point, m.parents) == (True, True, ("b", "c", "d"))
    e = node(G, "e")
    assert (e.is_head, e.dependencies) == (True, ("b", "d"))
    assert node(G, "b").children == ("m",)  # not "e": that is a dependency
    assert node(G, "a").is_base
    assert c.record is G.nodes["c"]["record"]


def test_node_view_is_read_only() -> None:
    view = node(build_graph(LINEAR), "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.revision = "c"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        view.is_head = True  # type: ignore[misc]


def test_parents_keep_the_declared_order() -> None:
    G = build_graph([R("z"), R("a"), R("m", ("z", "a"))])
    assert node(G, "m").parents == ("z", "a")


def test_newest_first_follows_a_line_then_the_next() -> None:
    records = [R("a"), R("b1", ("a",)), R("b2", ("b1",)), R("c1", ("a",)), R("c2", ("c1",))]
    assert newest_first(build_graph(records)) == ["c2", "c1", "b2", "b1", "a"]
    # The later record is the newer one.
    assert newest_first(build_graph(BRANCH)) == ["c", "b", "a"]
    # After a merge comes its first parent's line.
    assert newest_first(build_graph(MERGE)) == ["m", "b", "c", "a"]


def test_newest_first_puts_dependents_first() -> None:
    records = [R("x"), R("a", dependencies=("x",)), R("y", ("x",))]
    order = newest_first(build_graph(records))
    assert order.index("a") < order.index("x")


def test_newest_first_rejects_a_cycle() -> None:
    G = nx.DiGraph()
    G.add_edges_from([("a", "b"), ("b", "a")], kind="parent")
    with pytest.raises(CycleDetected):
        newest_first(G)


@FAST
@given(dag_records())
def test_newest_first_is_a_deterministic_topological_order(records: list[RevisionRecord]) -> None:
    G = build_graph(records)
    order = newest_first(G)
    assert sorted(order) == sorted(G)
    position = {rev: i for i, rev in enumerate(order)}
    assert all(position[child] < position[parent] for parent, child in G.edges)
    assert newest_first(build_graph(records)) == order
    assert newest_first(G.copy()) == order


@FAST
@given(dag_records())
def test_shape_queries_agree_with_the_records(records: list[RevisionRecord]) -> None:
    G = build_graph(records)
    named = {p for r in records for p in r.down_revisions}
    assert heads(G) == sorted(r.revision for r in records if r.revision not in named)
    assert bases(G) == sorted(r.revision for r in records if not r.down_revisions)
    assert merge_points(G) == sorted(r.revision for r in records if len(r.down_revisions) > 1)
    forks = branch_points(G)
    for rev in G:
        view = node(G, rev)
        assert view.parents == G.nodes[rev]["record"].down_revisions
        assert view.is_branch_point == (rev in forks)
        assert view.is_branch_point == (len(view.children) > 1)
        assert set(ancestors(G, rev)) == nx.ancestors(G, rev)
        assert set(descendants(G, rev, dependencies=False)) <= nx.descendants(G, rev)


def test_a_parent_named_twice_is_no_merge() -> None:
    G = build_graph([R("a", branch_labels=("x",)), R("b", ("a", "a"), dependencies=("a", "x"))])
    assert (node(G, "b").parents, node(G, "b").dependencies, merge_points(G)) == (("a",), (), [])
