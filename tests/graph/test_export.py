"""JSON, DOT and Mermaid exports."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from migrepo.graph import RevisionRecord, build_graph, newest_first, to_dot, to_json, to_mermaid

from .strategies import FAST, dag_records

R = RevisionRecord

NASTY = 'say "hi" [x] {y} <b>&amp; #1 \\n back\\slash\nnew line \x1b[0m ünï ✓ ; -->'
RECORDS = [
    R("a1", message=NASTY, path="versions/a1.py", branch_labels=("core",)),
    R('b"2', ("a1",), message="second"),
    R("x0"),
    R("c3", ("x0",), dependencies=("core",)),
    R("m4", ('b"2', "c3"), message="merge"),
]
# newest_first: m4, b"2, c3, x0, a1; Mermaid names them r0 to r4.
FIELDS = [
    "revision",
    "down_revisions",
    "dependencies",
    "branch_labels",
    "message",
    "path",
    "is_head",
    "is_base",
    "is_branch_point",
    "is_merge_point",
]


def test_json_fields_and_flags() -> None:
    items = json.loads(to_json(build_graph(RECORDS)))
    assert [item["revision"] for item in items] == ["m4", 'b"2', "c3", "x0", "a1"]
    assert all(list(item) == FIELDS for item in items)
    a1 = items[-1]
    assert (a1["message"], a1["path"], a1["branch_labels"]) == (NASTY, "versions/a1.py", ["core"])
    # A dependent does not make a branch point.
    assert (a1["is_base"], a1["is_branch_point"], a1["is_head"]) == (True, False, False)
    assert items[2]["dependencies"] == ["core"]  # as declared, not resolved
    assert items[0]["is_merge_point"] and items[0]["is_head"]


def test_json_of_nothing() -> None:
    assert json.loads(to_json(build_graph([]))) == []


def test_dot_quotes_ids_and_labels() -> None:
    dot = to_dot(build_graph(RECORDS))
    assert dot.startswith("digraph revisions {\n") and dot.endswith("\n}")
    assert '"b\\"2" [label="b\\"2\\nsecond"];' in dot
    assert '"a1" -> "b\\"2";' in dot
    assert '"a1" -> "c3" [style=dashed, label="depends on"];' in dot
    assert dot.count(" -> ") == 5
    assert "\x1b" not in dot
    # Inside a quoted string every '"' is escaped, and no raw newline is left.
    for line in dot.splitlines()[3:-1]:
        assert re.fullmatch(r'\s*("([^"\\]|\\.)*"|[^"\n])*', line), line


def test_mermaid_escapes_labels() -> None:
    mermaid = to_mermaid(build_graph(RECORDS))
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart BT"
    label = lines[5]
    assert label.startswith('  r4["a1<br/>say #quot;hi#quot; [x] {y} #lt;b#gt;#amp;amp#59; #35;1')
    assert label.endswith('ünï ✓ #59; --#gt;"]')
    assert label.count('"') == 2 and "\x1b" not in label
    assert lines[1:3] == ['  r0["m4 (head)<br/>merge"]', '  r1["b#quot;2<br/>second"]']
    edges = ["  r1 --> r0", "  r2 --> r0", "  r4 --> r1", "  r3 --> r2", "  r4 -.-> r2"]
    assert lines[6:] == edges


def test_order_limits_the_export() -> None:
    G = build_graph(RECORDS)
    assert [item["revision"] for item in json.loads(to_json(G, ["c3", "a1"]))] == ["c3", "a1"]
    assert to_dot(G, ["m4", "a1"]).count(" -> ") == 0
    assert to_mermaid(G, ["c3", "a1"]).splitlines()[-1] == "  r1 -.-> r0"


@FAST
@given(dag_records(), st.text())
def test_json_round_trip(records: list[RevisionRecord], message: str) -> None:
    records = [*records, R("extra", message=message)]
    G = build_graph(records)
    items = json.loads(to_json(G))
    by_id = {record.revision: record for record in records}
    assert [item["revision"] for item in items] == newest_first(G)
    for item in items:
        record = by_id[item["revision"]]
        assert item["down_revisions"] == list(record.down_revisions)
        assert item["dependencies"] == list(record.dependencies)
        assert item["branch_labels"] == list(record.branch_labels)
        assert (item["message"], item["path"]) == (record.message, record.path)


@FAST
@given(dag_records())
def test_dot_and_mermaid_have_one_edge_per_link(records: list[RevisionRecord]) -> None:
    G = build_graph(records)
    parent_links = sum(len(record.down_revisions) for record in records)
    dependency_links = G.size() - parent_links
    dot = to_dot(G)
    assert len(re.findall(r'^  "[^"]*" -> "[^"]*";$', dot, re.MULTILINE)) == parent_links
    assert dot.count("style=dashed") == dependency_links
    mermaid = to_mermaid(G)
    assert mermaid.count(" --> ") == parent_links
    assert mermaid.count(" -.-> ") == dependency_links
