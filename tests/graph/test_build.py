"""Building the graph from literal records, and every way records can be unsound."""

from __future__ import annotations

import pytest
from hypothesis import given

from migrepo.errors import (
    CycleDetected,
    DuplicateBranchLabel,
    DuplicateRevision,
    MissingParent,
)
from migrepo.graph import DEPENDENCY, PARENT, RevisionRecord, build_graph, check_records

from .strategies import FAST, dag_records

R = RevisionRecord


def edges(records: list[RevisionRecord]) -> set[tuple[str, str, str]]:
    return set(build_graph(records).edges(data="kind"))


def test_linear() -> None:
    G = build_graph([R("a"), R("b", ("a",)), R("c", ("b",))])
    assert list(G) == ["a", "b", "c"]
    assert set(G.edges(data="kind")) == {("a", "b", PARENT), ("b", "c", PARENT)}


def test_node_attribute_is_the_record() -> None:
    record = R("a", message="first", path="versions/a.py")
    assert build_graph([record]).nodes["a"] == {"record": record}


def test_empty() -> None:
    assert len(build_graph([])) == 0
    assert check_records([]) == []


def test_merge_and_octopus() -> None:
    records = [R("a"), R("b"), R("c"), R("d"), R("m", ("a", "b", "c", "d"))]
    assert edges(records) == {(p, "m", PARENT) for p in "abcd"}


def test_dependency_by_id() -> None:
    records = [R("a"), R("x"), R("b", ("a",), dependencies=("x",))]
    assert edges(records) == {("a", "b", PARENT), ("x", "b", DEPENDENCY)}


def test_dependency_by_label_resolves_to_the_declaring_revision() -> None:
    records = [
        R("x1", branch_labels=("reports",)),
        R("x2", ("x1",)),
        R("b", dependencies=("reports",)),
    ]
    assert edges(records) == {("x1", "x2", PARENT), ("x1", "b", DEPENDENCY)}
    assert build_graph(records).graph["branch_labels"] == {"reports": "x1"}


def test_parent_wins_over_dependency() -> None:
    assert edges([R("a"), R("b", ("a",), dependencies=("a",))]) == {("a", "b", PARENT)}


def test_duplicate_revision_names_both_paths() -> None:
    with pytest.raises(DuplicateRevision) as caught:
        build_graph([R("a", path="one.py"), R("b", ("a",)), R("a", path="two.py")])
    assert caught.value.revision == "a"
    assert caught.value.paths == ("one.py", "two.py")


def test_missing_parent_names_the_child() -> None:
    with pytest.raises(MissingParent) as caught:
        build_graph([R("a"), R("b", ("zz",), path="versions/b.py")])
    assert (caught.value.revision, caught.value.parent) == ("b", "zz")
    assert caught.value.path == "versions/b.py"


def test_missing_dependency() -> None:
    with pytest.raises(MissingParent) as caught:
        build_graph([R("a"), R("b", ("a",), dependencies=("nolabel",))])
    assert (caught.value.revision, caught.value.parent) == ("b", "nolabel")


@pytest.mark.parametrize(
    ("records", "label", "revisions"),
    [
        ([R("a", branch_labels=("x",)), R("b", branch_labels=("x",))], "x", ("a", "b")),
        ([R("a"), R("b", branch_labels=("a",))], "a", ("a", "b")),
    ],
    ids=["declared twice", "equal to another id"],
)
def test_ambiguous_label(records: list[RevisionRecord], label: str, revisions: tuple) -> None:
    with pytest.raises(DuplicateBranchLabel) as caught:
        build_graph([*records, R("c", dependencies=(label,))])
    assert (caught.value.label, caught.value.revisions) == (label, revisions)


def test_label_equal_to_own_id_is_fine() -> None:
    assert build_graph([R("a", branch_labels=("a",))]).graph["branch_labels"] == {"a": "a"}


def test_cycle_members_follow_down_revision() -> None:
    with pytest.raises(CycleDetected) as caught:
        build_graph([R("a", ("c",)), R("b", ("a",)), R("c", ("b",)), R("d", ("a",))])
    # a's down_revision is c, c's is b, b's is a.
    assert caught.value.revisions == ("a", "c", "b")


def test_self_loop() -> None:
    with pytest.raises(CycleDetected) as caught:
        build_graph([R("a", ("a",))])
    assert caught.value.revisions == ("a",)


def test_dependency_cycle() -> None:
    with pytest.raises(CycleDetected) as caught:
        build_graph([R("a", dependencies=("b",)), R("b", ("a",))])
    assert caught.value.revisions == ("a", "b")


def test_check_records_reports_everything_at_once() -> None:
    problems = check_records(
        [
            R("a", path="a.py"),
            R("a", path="a2.py"),
            R("b", ("a", "gone"), path="b.py"),
            R("c", ("b",), dependencies=("missing",), path="c.py"),
            R("s", ("s",)),
            R("p", ("q",)),
            R("q", ("p",)),
            R("l1", branch_labels=("dup",)),
            R("l2", branch_labels=("dup",)),
        ]
    )
    assert [(type(p), vars(p)) for p in problems] == [
        (DuplicateRevision, {"revision": "a", "paths": ("a.py", "a2.py")}),
        (DuplicateBranchLabel, {"label": "dup", "revisions": ("l1", "l2")}),
        (
            MissingParent,
            {"revision": "b", "parent": "gone", "path": "b.py", "field": "down_revision"},
        ),
        (
            MissingParent,
            {"revision": "c", "parent": "missing", "path": "c.py", "field": "depends_on"},
        ),
        (CycleDetected, {"revisions": ("p", "q")}),
        (CycleDetected, {"revisions": ("s",)}),
    ]


def test_build_graph_raises_the_first_problem() -> None:
    records = [R("b", ("gone",)), R("a"), R("a")]
    assert isinstance(check_records(records)[0], DuplicateRevision)
    with pytest.raises(DuplicateRevision):
        build_graph(records)


@FAST
@given(dag_records())
def test_sound_records_have_no_problems(records: list[RevisionRecord]) -> None:
    assert check_records(records) == []
    G = build_graph(records)
    assert list(G) == [record.revision for record in records]
    parent_links = {(p, r.revision) for r in records for p in r.down_revisions}
    assert {(u, v) for u, v, kind in G.edges(data="kind") if kind == PARENT} == parent_links


def test_a_parent_named_twice_is_one_link() -> None:
    G = build_graph([R("a"), R("b", ("a", "a"), dependencies=("a",))])
    assert list(G.edges(data="kind")) == [("a", "b", PARENT)]
