"""`flask db rebase`: one branch of the revision graph moved onto the other head.

The scenario throughout: main adds r2 on r1, branch `feature` adds r3 on r1,
and git merges them, leaving the graph with two heads.
"""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
import sqlalchemy as sa

from migrepo.errors import RevisionFileError
from migrepo.store import reader, rewrite
from tests.apps import Project, project

ADA = git.Actor("Ada", "ada@example.org")
BO = git.Actor("Bo", "bo@example.org")


def add_revision(proj: Project, rev: str, parent: str, table: str) -> Path:
    """`flask db revision --rev-id REV --head PARENT`, with a body that creates ``table``."""
    proj.ok("revision", "-m", f"add {table}", "--rev-id", rev, "--head", parent, "--splice")
    [path] = (proj.migrations / "versions").glob(f"{rev}_*.py")
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "def upgrade():\n    pass",
        f"def upgrade():\n    op.create_table({table!r}, sa.Column('id', sa.Integer, "
        "primary_key=True))",
    ).replace("def downgrade():\n    pass", f"def downgrade():\n    op.drop_table({table!r})")
    path.write_text(text, encoding="utf-8")
    return path


def two_heads(proj: Project) -> None:
    """r1; then r2 and r3 each on r1, without git."""
    proj.ok("init")
    add_revision(proj, "r1", "base", "one")
    add_revision(proj, "r2", "r1", "two")
    add_revision(proj, "r3", "r1", "three")


def commit_all(repo: git.Repo, message: str, who: git.Actor = ADA) -> git.Commit:
    repo.git.add("--all")
    return repo.index.commit(message, author=who, committer=who)


@pytest.fixture
def branches(proj: Project) -> Iterator[git.Repo]:
    """main holds r1 then r2; `feature` holds r1 then r3 (by Bo); main is checked out."""
    with git.Repo.init(proj.root, initial_branch="main") as repo:
        (proj.root / ".gitignore").write_text("*.db\n*.db.migrepo-lock\n")
        proj.ok("init")
        add_revision(proj, "r1", "base", "one")
        commit_all(repo, "r1")
        repo.git.checkout("-b", "feature")
        add_revision(proj, "r3", "r1", "three")
        commit_all(repo, "r3", BO)
        repo.git.checkout("main")
        add_revision(proj, "r2", "r1", "two")
        commit_all(repo, "r2")
        yield repo


def merge_feature(repo: git.Repo, *, commit: bool = True) -> None:
    """`git merge feature`: HEADS conflicts; with ``commit``, resolved by hand as two heads."""
    with pytest.raises(git.GitCommandError, match="CONFLICT"):
        repo.git.merge("feature", "--no-edit")
    if commit:
        heads = Path(repo.working_tree_dir or "", "migrations", "HEADS")
        heads.write_text(heads.read_text().replace("<<<<<<< HEAD\n", "").replace(
            "=======\n", "").split(">>>>>>>")[0])
        repo.git.add("--all")
        repo.git.commit("--no-edit")


@pytest.fixture
def merged(proj: Project, branches: git.Repo) -> git.Repo:
    """`feature` merged into main and committed: the graph has heads r2 and r3."""
    merge_feature(branches)
    return branches


def files_of(proj: Project) -> dict[str, bytes]:
    return {
        str(path.relative_to(proj.migrations)): path.read_bytes()
        for path in proj.migrations.rglob("*")
        if path.is_file() and ".migrepo" not in path.parts and "__pycache__" not in path.parts
    }


def parent_of(proj: Project, rev: str) -> object:
    [path] = (proj.migrations / "versions").glob(f"{rev}_*.py")
    found = reader.read_revision_file(path)
    return found.values["down_revision"]


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


# --- the move ----------------------------------------------------------------


def test_rebase_moves_the_merged_in_branch_onto_the_other_head(
    proj: Project, merged: git.Repo
) -> None:
    [r3] = (proj.migrations / "versions").glob("r3_*.py")
    before = r3.read_bytes()

    out = proj.ok("rebase").stdout

    assert "Rebased r3 onto r2: moved 1 revision (r3)" in out
    assert f"Rewrote {r3}: down_revision r1 -> r2" in out
    after = r3.read_bytes()
    assert after == before.replace(b"Revises: r1", b"Revises: r2").replace(
        b"down_revision = 'r1'", b"down_revision = 'r2'"
    )
    assert after != before
    assert (proj.migrations / "HEADS").read_text().splitlines()[1:] == ["r3"]
    graph = proj.ok("history", "--graph").stdout
    assert [line.split()[:2] for line in graph.splitlines()] == [
        ["*", "r3"], ["*", "r2"], ["*", "r1"]
    ]
    commit_all(merged, "rebase r3 onto r2")
    assert proj.ok("verify").stdout.strip() == "ok: the migrations directory is sound"
    proj.ok("upgrade")
    assert proj.version() == {"r3"}
    assert {"one", "two", "three"} <= proj.tables()


def test_rebase_in_the_middle_of_the_merge_resolves_the_heads_conflict(
    proj: Project, branches: git.Repo
) -> None:
    merge_feature(branches, commit=False)
    assert "<<<<<<<" in (proj.migrations / "HEADS").read_text()

    proj.ok("rebase")  # r3 is not on HEAD's history yet: it moves

    assert parent_of(proj, "r3") == "r2"
    assert (proj.migrations / "HEADS").read_text().splitlines()[1:] == ["r3"]
    branches.git.add("--all")
    branches.git.commit("--no-edit")
    assert proj.ok("verify").stdout.strip() == "ok: the migrations directory is sound"


def test_explicit_revision_and_onto_and_prefixes(proj: Project, merged: git.Repo) -> None:
    out = proj.ok("rebase", "r2", "--onto", "r3").stdout
    assert "Rebased r2 onto r3" in out
    assert parent_of(proj, "r2") == "r3" and parent_of(proj, "r3") == "r1"


def test_dry_run_shows_the_graph_before_and_after_and_changes_nothing(
    proj: Project, merged: git.Repo
) -> None:
    files = files_of(proj)

    out = proj.ok("rebase", "--dry-run").stdout

    assert files_of(proj) == files
    assert "Would rebase r3 onto r2: would move 1 revision (r3)" in out
    assert "Would write HEADS: r3" in out
    before = out.split("Before:\n")[1].split("\n\nAfter:\n")[0]
    after = out.split("After:\n")[1]
    assert before.splitlines() == [
        "* r3 (head) add three", "| * r2 (head) add two", "|/", "* r1 (branchpoint) add one"
    ]
    assert after.splitlines() == ["* r3 (head) add three", "* r2 add two", "* r1 add one"]


def test_a_branch_of_several_revisions_moves_by_its_lowest(proj: Project) -> None:
    two_heads(proj)
    add_revision(proj, "r4", "r3", "four")
    r4 = next((proj.migrations / "versions").glob("r4_*.py")).read_bytes()

    out = proj.ok("rebase", "r4").stdout

    assert "moved 2 revisions (r4, r3)" in out
    assert parent_of(proj, "r3") == "r2"
    assert next((proj.migrations / "versions").glob("r4_*.py")).read_bytes() == r4


def test_upgrade_after_rebase_matches_the_merge_revision_route(tmp_path: Path) -> None:
    """The same revisions, joined by a merge revision or rebased: the same schema."""

    def schema(url: str) -> dict[str, list[tuple[str, str]]]:
        engine = sa.create_engine(url)
        try:
            inspector = sa.inspect(engine)
            return {
                table: [(c["name"], str(c["type"])) for c in inspector.get_columns(table)]
                for table in inspector.get_table_names()
                if table != "alembic_version"
            }
        finally:
            engine.dispose()

    routes = {}
    for route in ("merge", "rebase"):
        root = tmp_path / route
        root.mkdir()
        url = f"sqlite:///{root / 'app.db'}"
        with project(root, url) as proj:
            two_heads(proj)
            proj.ok("merge", "heads") if route == "merge" else proj.ok("rebase", "r3")
            proj.ok("upgrade")
            routes[route] = schema(url)
            assert len(proj.version()) == 1
    assert routes["merge"] == routes["rebase"]
    assert {"one", "two", "three", "migrepo_ledger"} <= set(routes["rebase"])


# --- refusals: applied, pushed -------------------------------------------------


def test_refused_when_the_revision_to_move_is_applied(proj: Project, merged: git.Repo) -> None:
    proj.ok("upgrade", "r3")
    files = files_of(proj)

    result = proj.run("rebase", "r3")

    assert result.exit_code == 1
    assert last_line(result.output) == (
        "Error: cannot rebase r3 onto r2: r3 is applied to this database (the database is at "
        "r3); downgrade the database first (`flask db downgrade r1`), or join the heads with "
        "`flask db merge heads`"
    )
    assert "Traceback" not in result.output
    assert files_of(proj) == files
    # By default the applied head stays, and the other one moves onto it.
    assert "Rebased r2 onto r3" in proj.ok("rebase").stdout


def test_refused_when_only_the_ledger_has_it_applied(proj: Project, merged: git.Repo) -> None:
    proj.ok("upgrade", "r3")
    engine = sa.create_engine(proj.url)
    with engine.begin() as connection:  # the version row lost, the ledger row kept
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'r1'"))
    engine.dispose()
    files = files_of(proj)

    result = proj.run("rebase", "r3")

    assert result.exit_code == 1
    assert "r3 is applied to this database (the ledger has it applied on " in result.output
    assert files_of(proj) == files


def test_allowed_again_once_downgraded(proj: Project, merged: git.Repo) -> None:
    proj.ok("upgrade", "r3")
    proj.ok("downgrade", "r1")
    proj.ok("rebase", "r3")
    assert parent_of(proj, "r3") == "r2"


@pytest.fixture
def origin(tmp_path: Path, branches: git.Repo) -> git.Repo:
    """A bare remote; `feature` is pushed to it and tracks it."""
    bare = git.Repo.init(tmp_path / "origin.git", bare=True, initial_branch="main")
    branches.create_remote("origin", str(bare.git_dir))
    branches.git.push("--set-upstream", "origin", "feature")
    return bare


def test_refused_when_the_revision_to_move_is_pushed(
    proj: Project, branches: git.Repo, origin: git.Repo
) -> None:
    merge_feature(branches)
    files = files_of(proj)

    result = proj.run("rebase", "r3")

    assert result.exit_code == 1
    assert last_line(result.output) == (
        "Error: cannot rebase r3 onto r2: r3 is already pushed (in origin/feature), so others "
        "may have applied it; join the heads with `flask db merge heads` instead"
    )
    assert files_of(proj) == files
    # The pushed head stays by default: the local one moves onto it.
    assert "Rebased r2 onto r3" in proj.ok("rebase").stdout


def test_refused_when_pushed_even_before_the_merge_is_committed(
    proj: Project, branches: git.Repo, origin: git.Repo
) -> None:
    merge_feature(branches, commit=False)
    result = proj.run("rebase", "r3", "--dry-run")
    assert result.exit_code == 1
    assert "r3 is already pushed (in origin/feature)" in result.output


def test_neither_head_can_move_when_both_are_pushed(
    proj: Project, branches: git.Repo, origin: git.Repo
) -> None:
    branches.git.push("--set-upstream", "origin", "main")
    merge_feature(branches)
    files = files_of(proj)

    result = proj.run("rebase")

    assert result.exit_code == 1
    line = last_line(result.output)
    assert line.startswith("Error: neither head can be rebased onto the other (")
    assert "r2's branch: r2 is already pushed (in origin/main)" in line
    assert "r3's branch: r3 is already pushed (in origin/feature)" in line
    assert line.endswith("join them with `flask db merge heads` instead")
    assert files_of(proj) == files


# --- the default, and bad input ------------------------------------------------


def test_without_git_either_head_could_move(proj: Project) -> None:
    two_heads(proj)
    files = files_of(proj)
    result = proj.run("rebase")
    assert result.exit_code == 2
    assert "either head could move (r2, r3): name the one to move, `flask db rebase r2` " \
        "(onto r3) or `flask db rebase r3` (onto r2)" in result.output
    assert files_of(proj) == files


def test_one_head_is_nothing_to_do(proj: Project) -> None:
    proj.ok("init")
    add_revision(proj, "r1", "base", "one")
    files = files_of(proj)
    assert proj.ok("rebase").stdout == "Nothing to rebase: the graph has one head (r1).\n"
    assert proj.ok("rebase", "r1").stdout == "Nothing to rebase: the graph has one head (r1).\n"
    assert files_of(proj) == files


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("r1",), 2, "REV r1 is not a head (the heads are r2, r3, r4)"),
        (("r2", "--onto", "r1"), 2, "--onto r1 is not a head (the heads are r2, r3, r4)"),
        (("r2", "--onto", "r2"), 2, "REV and --onto are both r2"),
        (("r2",), 2, "there are 3 heads (r2, r3, r4): name the other one with --onto TARGET"),
        (("--onto", "r2"), 2, "there are 3 heads (r2, r3, r4): name the other one with REV"),
        ((), 2, "there are 3 heads (r2, r3, r4): name the head to move and the head to move it"),
        (("nope",), 1, "no revision matches 'nope'"),
        (("r",), 2, "revision prefix 'r' is ambiguous"),
    ],
)
def test_bad_arguments(proj: Project, args: tuple[str, ...], code: int, message: str) -> None:
    two_heads(proj)
    add_revision(proj, "r4", "r1", "four")
    files = files_of(proj)
    result = proj.run("rebase", *args)
    assert result.exit_code == code
    assert message in result.output
    assert files_of(proj) == files


def test_refuses_a_merge_inside_the_branch(proj: Project) -> None:
    two_heads(proj)
    add_revision(proj, "r4", "r1", "four")
    proj.ok("merge", "r3", "r4", "--rev-id", "m5")
    files = files_of(proj)
    result = proj.run("rebase", "m5", "--onto", "r2")
    assert result.exit_code == 1
    assert "the branch holds merge revision m5: only a line of revisions can move" in (
        result.output
    )
    assert files_of(proj) == files


def test_refuses_a_branch_with_a_side_branch(proj: Project) -> None:
    two_heads(proj)
    add_revision(proj, "r4", "r3", "four")
    add_revision(proj, "r5", "r3", "five")
    result = proj.run("rebase", "r4", "--onto", "r2")
    assert result.exit_code == 1
    assert "r3 also has child r5, on another branch, which would move too" in result.output


def test_refuses_a_dependency_that_would_become_a_cycle(proj: Project) -> None:
    two_heads(proj)
    [r2] = (proj.migrations / "versions").glob("r2_*.py")
    r2.write_text(r2.read_text().replace("depends_on = None", "depends_on = 'r3'"))
    files = files_of(proj)
    result = proj.run("rebase", "r3")
    assert result.exit_code == 1
    assert "the revision links would form a cycle" in result.output
    assert files_of(proj) == files


def test_refuses_a_down_revision_that_is_not_a_literal(proj: Project) -> None:
    two_heads(proj)
    [r3] = (proj.migrations / "versions").glob("r3_*.py")
    r3.write_text(
        r3.read_text().replace("down_revision = 'r1'", "PARENT = 'r1'\ndown_revision = PARENT")
    )
    files = files_of(proj)
    result = proj.run("rebase", "r3")
    assert result.exit_code == 1
    assert "down_revision is not a plain string literal naming r1; set the parent by hand" in (
        result.output
    )
    assert files_of(proj) == files


def test_refuses_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'app.db'}"
    with project(tmp_path, url) as proj:
        two_heads_without_database(proj)
        files = files_of(proj)
        result = proj.run("rebase", "r3")
        assert result.exit_code == 1
        assert last_line(result.output) == (
            "Error: cannot read the database to check that the revisions to move were never "
            "applied: (sqlite3.OperationalError) unable to open database file; rebase where "
            "the app's database can be reached"
        )
        assert files_of(proj) == files


def two_heads_without_database(proj: Project) -> None:
    proj.ok("init")
    for rev, parent in (("r1", None), ("r2", "r1"), ("r3", "r1")):
        proj.write_revision(rev, parent)


# --- the source rewrite ----------------------------------------------------------


def test_reparent_keeps_every_other_byte() -> None:
    source = (
        '\ufeff"""Add caf\u00e9\r\n\r\nRevision ID: r3\r\nRevises: r1\r\n"""\r\n'
        "# down_revision = 'r1' in a comment stays\r\n"
        "revision = 'r3'\r\n"
        'down_revision: str | None = "r1"  # the parent\r\n'
        "branch_labels = None\r\n"
    ).encode("utf-8")
    result = rewrite.reparent(source, "r3.py", "r1", "r2")
    assert result == source.replace(b"Revises: r1", b"Revises: r2").replace(
        b'= "r1"', b'= "r2"'
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("down_revision = ('r1',)", "down_revision = ('r2',)"),
        ("down_revision = ['r1']", "down_revision = ['r2']"),
        ("x = 'é'; down_revision = 'r1'", "x = 'é'; down_revision = 'r2'"),
        ("down_revision = (\n    'r1'\n)", "down_revision = (\n    'r2'\n)"),
    ],
)
def test_reparent_literal_shapes(line: str, expected: str) -> None:
    source = f"revision = 'r3'\n{line}\n".encode()
    result = rewrite.reparent(source, "r3.py", "r1", "r2")
    assert result == f"revision = 'r3'\n{expected}\n".encode()


@pytest.mark.parametrize(
    "line",
    [
        "down_revision = PARENT",
        "down_revision = ('r1', 'r0')",
        "down_revision = 'r0'",
        "down_revision = down_revision = 'r1'",
        "down_revision = 'r1'\ndown_revision = 'r1'",
        "",
    ],
)
def test_reparent_refuses_what_is_not_one_plain_literal(line: str) -> None:
    source = f"PARENT = 'r1'\nrevision = 'r3'\n{line}\n".encode()
    with pytest.raises(RevisionFileError, match="set the parent by hand"):
        rewrite.reparent(source, "r3.py", "r1", "r2")


def test_revises_line_that_names_something_else_is_left_alone() -> None:
    source = b'"""x\n\nRevises: (see ticket 12)\n"""\nrevision = "r3"\ndown_revision = "r1"\n'
    result = rewrite.reparent(source, "r3.py", "r1", "r2")
    assert result == source.replace(b'down_revision = "r1"', b'down_revision = "r2"')


@pytest.mark.parametrize("module", [rewrite, reader])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0



def test_onto_alone_moves_the_other_head(proj: Project, merged: git.Repo) -> None:
    assert "Rebased r2 onto r3" in proj.ok("rebase", "--onto", "r3").stdout
    assert parent_of(proj, "r2") == "r3"


def test_explicit_pair_among_three_heads(proj: Project) -> None:
    two_heads(proj)
    add_revision(proj, "r4", "r1", "four")
    assert "Rebased r4 onto r3" in proj.ok("rebase", "r4", "--onto", "r3").stdout
    assert parent_of(proj, "r4") == "r3"
    assert (proj.migrations / "HEADS").read_text().splitlines()[1:] == ["r2", "r4"]


def test_refuses_a_branch_from_another_base_and_a_labelled_branch(proj: Project) -> None:
    two_heads(proj)
    proj.write_revision("b1", None, name="other_base")
    result = proj.run("rebase", "b1", "--onto", "r2")
    assert result.exit_code == 1
    assert "b1 is a base: the branch shares no revision with r2" in result.output
    [r3] = (proj.migrations / "versions").glob("r3_*.py")
    r3.write_text(r3.read_text().replace("branch_labels = None", "branch_labels = ('extra',)"))
    result = proj.run("rebase", "r3", "--onto", "r2")
    assert result.exit_code == 1
    assert "r3 carries branch label extra: a labelled branch is meant to stay apart" in (
        result.output
    )


def test_applied_is_read_from_every_database(any_proj: Project) -> None:
    """The same refusal on SQLite and PostgreSQL, where r2's line is applied."""
    two_heads(any_proj)
    any_proj.ok("upgrade", "r2")
    result = any_proj.run("rebase", "r2")
    assert result.exit_code == 1
    assert "r2 is applied to this database (the database is at r2)" in result.output
    assert "Rebased r3 onto r2" in any_proj.ok("rebase").stdout
    any_proj.ok("upgrade")
    assert any_proj.version() == {"r3"}
    assert {"one", "two", "three"} <= any_proj.tables()


def test_replace_source_moves_the_mtime_past_the_old_one(tmp_path: Path) -> None:
    """Bytecode is trusted by source mtime (whole seconds) and size: a same-size rewrite in
    the old file's second would run the old parent. The old mtime here is in the future,
    the strongest form of "the same second"."""
    import importlib.util
    import os
    import py_compile

    path = tmp_path / "r3_x.py"
    path.write_bytes(b"revision = 'r3'\ndown_revision = 'r1'\n")
    future = (int(path.stat().st_mtime) + 3600) * 10**9
    os.utime(path, ns=(future, future))
    py_compile.compile(str(path))

    rewrite.replace_source(path, b"revision = 'r3'\ndown_revision = 'r2'\n")

    assert path.read_bytes().endswith(b"'r2'\n")
    assert int(path.stat().st_mtime) > future // 10**9
    recorded = Path(importlib.util.cache_from_source(str(path))).read_bytes()[8:12]
    assert int.from_bytes(recorded, "little") != int(path.stat().st_mtime)


def test_an_uncommitted_revision_moves_onto_the_pulled_one(proj: Project) -> None:
    """r3 written but not committed yet; r2 arrives on main: r3 is the one to move."""
    with git.Repo.init(proj.root, initial_branch="main") as repo:
        (proj.root / ".gitignore").write_text("*.db\n*.db.migrepo-lock\n")
        proj.ok("init")
        add_revision(proj, "r1", "base", "one")
        add_revision(proj, "r2", "r1", "two")
        commit_all(repo, "r1 and r2")
        add_revision(proj, "r3", "r1", "three")  # not committed

        assert "Rebased r3 onto r2" in proj.ok("rebase").stdout
        assert parent_of(proj, "r3") == "r2"


def test_dry_run_draws_from_the_branch_point_up(proj: Project) -> None:
    proj.ok("init")
    add_revision(proj, "r0", "base", "zero")
    add_revision(proj, "r1", "r0", "one")
    add_revision(proj, "r2", "r1", "two")
    add_revision(proj, "r2b", "r2", "two_b")
    add_revision(proj, "r3", "r1", "three")

    out = proj.ok("rebase", "r3", "--dry-run").stdout

    assert out.split("After:\n")[1].splitlines() == [
        "* r3 (head) add three", "* r2b add two_b", "* r2 add two", "* r1 add one"
    ]
    assert "r0 " not in out.split("Before:\n")[1]


def test_a_stamp_below_it_unapplies_it(proj: Project, merged: git.Repo) -> None:
    """The ledger's stamp row to r1 un-applies r3, which sits above r1 in the graph."""
    proj.ok("upgrade", "r3")
    proj.ok("stamp", "r1")
    assert "Rebased r3 onto r2" in proj.ok("rebase", "r3").stdout
