"""The text drawing: exact output for small graphs, lane connectivity for random ones."""

from __future__ import annotations

import re

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrepo.errors import UnknownRevision
from migrepo.graph import RevisionRecord, build_graph, newest_first, node, render_graph

from .drawing import read_drawing
from .strategies import FAST, THOROUGH, dag_records

R = RevisionRecord
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def drawn(records: list[RevisionRecord], **options: object) -> str:
    return "\n".join(render_graph(build_graph(records), **options))  # type: ignore[arg-type]


def test_linear() -> None:
    assert drawn([R("a", message="one"), R("b", ("a",), message="two")]) == (
        "* b (head) two\n* a one"
    )


def test_branch_merge_octopus_and_dependency() -> None:
    records = [
        R("a1", message="create users"),
        R("b1", ("a1",), message="add email"),
        R("c1", ("a1",), branch_labels=("billing",), message="create invoices"),
        R("d1", ("a1",), message="add audit log"),
        R("m1", ("b1", "c1", "d1"), message="merge heads"),
        R("x1", message="reports"),
        R("x2", ("x1",), dependencies=("billing",), message='reports "v2"'),
    ]
    assert drawn(records, current=["m1"]) == (
        '* x2 (head) reports "v2" (depends on: c1)\n'
        "* x1 reports\n"
        "\n"
        "* m1 (head, mergepoint, current) merge heads\n"
        "|\\\n"
        "| |\\\n"
        "* | | b1 add email\n"
        "| * | c1 [billing] create invoices\n"
        "| | * d1 add audit log\n"
        "|/ /\n"
        "|/\n"
        "* a1 (branchpoint) create users"
    )


def test_crossing_lane() -> None:
    G = build_graph([R("a"), R("x"), R("c", ("a",)), R("b", ("x",)), R("d", ("a",))])
    assert render_graph(G, order=["c", "b", "d", "a", "x"]) == [
        "* c (head)",
        "| * b (head)",
        "| | * d (head)",
        "|_|/",
        "* | a (branchpoint)",
        " /",
        "* x",
    ]


def test_verbose_details_keep_the_lanes() -> None:
    records = [R("a", path="v/a.py"), R("b", ("a",), path="v/b.py"), R("c", ("a",))]
    assert drawn(records, verbose=True) == (
        "* c (head)\n"
        "|   parents: a\n"
        "| * b (head)\n"
        "| |   path: v/b.py\n"
        "| |   parents: a\n"
        "|/\n"
        "* a (branchpoint)\n"
        "    path: v/a.py\n"
        "    parents: (none)"
    )


def test_messages_stay_on_one_line_without_escape_codes() -> None:
    lines = render_graph(build_graph([R("a", message="two\nlines \x1b[31m red\tx")]))
    assert lines == ["* a (head) two lines \\x1b[31m red x"]


def test_color() -> None:
    records = [R("a"), R("b", ("a",), branch_labels=("x",)), R("c", ("a",))]
    colored = render_graph(build_graph(records), color=True)
    assert any("\x1b[" in line for line in colored)
    assert [ANSI.sub("", line) for line in colored] == render_graph(build_graph(records))


def test_subset_leaves_out_links_to_hidden_revisions() -> None:
    G = build_graph([R("a"), R("b", ("a",)), R("c", ("b",))])
    assert render_graph(G, order=["c", "a"]) == ["* c (head)", "", "* a"]


@pytest.mark.parametrize(
    ("order", "error"),
    [(["b", "b", "a"], ValueError), (["a", "b"], ValueError), (["zz"], UnknownRevision)],
    ids=["repeated", "parent first", "unknown"],
)
def test_bad_order(order: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        render_graph(build_graph([R("a"), R("b", ("a",))]), order=order)


def check_drawing(G: nx.DiGraph, lines: list[str], shown: set[str]) -> None:
    """Every shown revision on one line, below its children, its lanes reaching its parents."""
    drawing = read_drawing(lines)
    assert set(drawing.rows) == shown
    for rev in shown:
        parents = {parent for parent in node(G, rev).parents if parent in shown}
        assert drawing.reached[rev] == parents, rev
        assert all(drawing.rows[rev] < drawing.rows[parent] for parent in parents)


@THOROUGH
@given(dag_records(), st.booleans())
def test_lanes_connect_each_revision_to_its_parents(
    records: list[RevisionRecord], verbose: bool
) -> None:
    G = build_graph(records)
    lines = render_graph(G, verbose=verbose)
    check_drawing(G, lines, set(G))
    assert not any("\x1b" in line for line in lines)


@FAST
@given(dag_records(), st.data())
def test_lanes_connect_in_a_subset(records: list[RevisionRecord], data: st.DataObject) -> None:
    G = build_graph(records)
    shown = data.draw(st.sets(st.sampled_from(sorted(G))))
    order = [rev for rev in newest_first(G) if rev in shown]
    check_drawing(G, render_graph(G, order=order), shown)


@FAST
@given(dag_records(max_size=12))
def test_color_only_adds_escape_codes(records: list[RevisionRecord]) -> None:
    G = build_graph(records)
    plain = render_graph(G, verbose=True)
    assert [ANSI.sub("", line) for line in render_graph(G, color=True, verbose=True)] == plain


@FAST
@given(dag_records(), st.data())
def test_the_check_catches_a_missing_lane_line(
    records: list[RevisionRecord], data: st.DataObject
) -> None:
    """The lane check is not vacuous: dropping any line that moves lanes breaks it."""
    G = build_graph(records)
    lines = render_graph(G)
    movers = [i for i, line in enumerate(lines) if "*" not in line and set(line) - {"|", " "}]
    if movers:
        i = data.draw(st.sampled_from(movers))
        with pytest.raises(AssertionError):
            check_drawing(G, lines[:i] + lines[i + 1 :], set(G))
