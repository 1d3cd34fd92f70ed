"""history --graph/--format, merge heads and verify on real migration directories."""

from __future__ import annotations

import json

import pytest

from migrepo import revision_graph
from tests.apps import Project


@pytest.fixture
def branched(proj: Project) -> Project:
    """a1 <- b2, a1 <- c3, a1 <- d4: three heads."""
    proj.ok("init")
    proj.ok("revision", "-m", "create users", "--rev-id", "a1")
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    proj.ok("revision", "-m", "add orders", "--head", "a1", "--splice", "--rev-id", "c3")
    proj.ok("revision", "-m", "add audit", "--head", "a1", "--splice", "--rev-id", "d4")
    return proj


def test_history_graph_draws_branches_and_octopus_merge(branched: Project) -> None:
    branched.ok("merge", "heads", "--rev-id", "m5")
    lines = branched.ok("history", "--graph").output.splitlines()
    assert lines == [
        "* m5 (head, mergepoint) merge heads b2, c3, d4",
        "|\\",
        "| |\\",
        "* | | b2 add email",
        "| * | c3 add orders",
        "| | * d4 add audit",
        "|/ /",
        "|/",
        "* a1 (branchpoint) create users",
    ]


def test_history_graph_marks_current_and_honours_range(branched: Project) -> None:
    branched.ok("merge", "heads", "--rev-id", "m5")
    branched.ok("upgrade")
    out = branched.ok("history", "--graph", "-i", "-r", "b2:head").stdout
    assert out.splitlines() == [
        "* m5 (head, mergepoint, current) merge heads b2, c3, d4",
        "* b2 add email",
    ]


def test_history_formats(branched: Project) -> None:
    rows = json.loads(branched.ok("history", "--format", "json").output)
    assert [row["revision"] for row in rows][-1] == "a1"
    a1 = next(row for row in rows if row["revision"] == "a1")
    assert set(a1) == {
        "revision", "down_revisions", "dependencies", "branch_labels", "message", "path",
        "is_head", "is_base", "is_branch_point", "is_merge_point",
    }
    assert a1["is_branch_point"] and a1["is_base"] and a1["message"] == "create users"
    assert {row["revision"] for row in rows if row["is_head"]} == {"b2", "c3", "d4"}

    dot = branched.ok("history", "--format", "dot").output
    assert dot.startswith("digraph") and dot.count("->") == 3
    mermaid = branched.ok("history", "--format", "mermaid").output
    assert mermaid.startswith("flowchart")

    result = branched.run("history", "--graph", "--format", "json")
    assert result.exit_code == 2


def test_merge_heads_joins_every_head(branched: Project) -> None:
    branched.ok("merge", "heads", "--rev-id", "m5")
    graph = revision_graph_of(branched)
    assert sorted(graph.predecessors("m5")) == ["b2", "c3", "d4"]
    text = (branched.migrations / "versions").joinpath(
        next(p.name for p in branched.revision_files() if p.name.startswith("m5"))
    ).read_text()
    assert "merge heads b2, c3, d4" in text


def test_merge_heads_with_one_head_writes_nothing(proj: Project) -> None:
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    before = proj.revision_files()
    result = proj.ok("merge", "heads")
    assert "Nothing to merge: the revision graph has a single head (a1)." in result.output
    assert proj.revision_files() == before


def test_merge_explicit_revisions_still_works(branched: Project) -> None:
    branched.ok("merge", "b2", "c3", "-m", "two of three", "--rev-id", "m6")
    assert sorted(revision_graph_of(branched).predecessors("m6")) == ["b2", "c3"]


def revision_graph_of(proj: Project):  # type: ignore[no-untyped-def]
    with proj.app().app_context():
        return revision_graph()


def test_verify_sound_directory(proj: Project) -> None:
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    result = proj.ok("verify")
    assert "ok: the migrations directory is sound" in result.output


def test_verify_warns_on_several_heads_and_strict_fails(branched: Project) -> None:
    result = branched.ok("verify")
    assert "warning: 3 heads (b2, c3, d4)" in result.output
    strict = branched.run("verify", "--strict")
    assert strict.exit_code == 1
    assert "error: 3 heads" in strict.output


def test_verify_reports_every_problem(proj: Project) -> None:
    proj.ok("init")
    proj.write_revision("a1", None)
    orphan = proj.write_revision("b2", "zz")
    first = proj.write_revision("c3", "a1", name="one")
    second = proj.write_revision("c3", "a1", name="two")
    proj.write_revision("x1", "x2")
    proj.write_revision("x2", "x1")
    broken = proj.migrations / "versions" / "d4_broken.py"
    broken.write_text('revision = "d4"\ndown_revision = "a1"\n\ndef upgrade(:\n    pass\n')
    bad_import = proj.migrations / "versions" / "e5_import.py"
    bad_import.write_text('revision = "e5"\ndown_revision = "a1"\nimport no_such_module_x\n')

    result = proj.run("verify")
    assert result.exit_code == 1
    out = result.output
    assert f"revision b2 in {orphan} names parent zz" in out
    assert f"{first}" in out and f"{second}" in out and "c3 is declared by more" in out
    assert "cycle" in out and "x1" in out and "x2" in out
    assert f"{broken}:4: syntax error" in out
    assert f"{bad_import}:3: ModuleNotFoundError" in out
    assert "Traceback" not in out


def test_graph_commands_report_unreadable_file(proj: Project) -> None:
    proj.ok("init")
    proj.write_revision("a1", None)
    (proj.migrations / "versions" / "b2_bad.py").write_text("revision = 'b2'\ndef (:\n")
    result = proj.run("history", "--graph")
    assert result.exit_code == 1
    assert "b2_bad.py:2: syntax error" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("bad_range", ["a1", "a1:b2:c3"])
def test_history_graph_rejects_malformed_range(branched: Project, bad_range: str) -> None:
    result = branched.run("history", "--graph", "-r", bad_range)
    assert result.exit_code == 2
    assert f"invalid revision range {bad_range!r}" in result.output


@pytest.mark.parametrize(
    "body",
    [
        'revision = "b2"\ndown_revision = "a1"\nimport no_such_module_x\n',
        'revision: str = "b2"\ndown_revision = "a1"\n\ndef upgrade(:\n    pass\n',
    ],
    ids=["import-error", "syntax-error"],
)
def test_verify_reports_an_unreadable_parent_once(proj: Project, body: str) -> None:
    proj.ok("init")
    proj.write_revision("a1", None)
    broken = proj.migrations / "versions" / "b2_broken.py"
    broken.write_text(body)
    proj.write_revision("c3", "b2")
    proj.write_revision("d4", "b2", name="y")

    result = proj.run("verify")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(broken) in errors[0]
    assert "which has no file" not in result.output
    assert "heads" not in result.output
