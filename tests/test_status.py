"""`flask db status` (every state and its --check code), `--plan`, and `flask db resolve`.

SQLite and PostgreSQL for every state; a failing revision is dirty on SQLite
(its DDL is not rolled back: Alembic's SQLite implementation has no
transactional DDL) and only failed on PostgreSQL. MariaDB's half-applied
revision is at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.apps import Project, project
from tests.test_async import aio_proj  # noqa: F401 - the fixture
from tests.test_locking import add_chain, add_revision

FAILING_UPGRADE = """\
op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))
op.execute("SELECT * FROM no_such_table")
"""


def status(proj: Project, *args: str) -> tuple[int, dict[str, Any]]:
    result = proj.run("status", "--check", "--format", "json", *args)
    assert result.exit_code in (0, 3, 4, 5, 6), (result.output, result.exception)
    return result.exit_code, json.loads(result.output)


def states(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(rev["revision"], rev["state"]) for rev in report["revisions"]]


def ledger(url: str) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("migrepo_ledger"):
                return []
            rows = connection.execute(
                sa.text("SELECT revision, direction, outcome FROM migrepo_ledger ORDER BY id")
            )
            return [(str(a), str(b), str(c)) for a, b, c in rows]
    finally:
        engine.dispose()


def snapshot(proj: Project) -> tuple[Any, ...]:
    """What a command that must change nothing could change: tables, versions, ledger, files."""
    files = {path.name: path.read_bytes() for path in proj.revision_files()}
    return proj.tables(ledger=True), proj.version(), ledger(proj.url), files


# --- status: every state --------------------------------------------------------------


def test_status_states_and_exit_codes(any_proj: Project) -> None:
    proj = any_proj
    proj.ok("init")
    assert proj.run("status", "--check").exit_code == 0
    assert "no revisions" in proj.ok("status").output

    add_chain(proj.migrations, 2)
    code, report = status(proj)
    assert code == 3
    assert report["summary"] == "2 pending"
    assert states(report) == [("r1", "pending"), ("r2", "pending")]

    proj.ok("upgrade", "r1")
    code, report = status(proj)
    assert (code, report["current"]) == (3, ["r1"])
    assert states(report) == [("r1", "applied"), ("r2", "pending")]
    r1 = report["revisions"][0]
    assert r1["applied_by"] and r1["applied_at"] and r1["last_step"] == "upgrade ok"
    assert r1["changed"] is False and r1["applied_hash"] == r1["file_hash"]

    proj.ok("upgrade")
    code, report = status(proj)
    assert (code, report["summary"]) == (0, "at head")
    assert [rev["is_head"] for rev in report["revisions"]] == [False, True]

    # The file of an applied revision changes: status says so, and is still at head.
    r1_file = proj.migrations / "versions" / "r1_step.py"
    r1_file.write_text(r1_file.read_text() + "\n# edited after it ran\n")
    code, report = status(proj)
    assert code == 0
    assert report["revisions"][0]["changed"] is True
    assert "changed" in proj.ok("status").output.splitlines()[1]

    # A second head: several heads wins over pending.
    add_revision(proj.migrations, "b1", "r1", "pass")
    code, report = status(proj)
    assert code == 5
    assert report["heads"] == ["b1", "r2"] or sorted(report["heads"]) == ["b1", "r2"]
    assert dict(states(report))["b1"] == "pending"
    r1 = next(rev for rev in report["revisions"] if rev["revision"] == "r1")
    assert r1["is_branch_point"]
    text = proj.ok("status").output
    assert "r1 (branch point)" in text and "b1 (head)" in text and "r2 (head)" in text
    (proj.migrations / "versions" / "b1_step.py").unlink()

    # The database is ahead of this tree: r2's file is gone.
    r2_file = proj.migrations / "versions" / "r2_step.py"
    kept = r2_file.read_bytes()
    r2_file.unlink()
    code, report = status(proj)
    assert code == 4
    assert ("r2", "unknown") in states(report)
    assert "ahead of this tree" in report["summary"]
    r2_file.write_bytes(kept)
    assert status(proj)[0] == 0


def test_a_failed_revision_is_dirty_without_transactional_ddl(any_proj: Project) -> None:
    proj = any_proj
    proj.ok("init")
    add_chain(proj.migrations, 2)
    add_revision(proj.migrations, "r3", "r2", FAILING_UPGRADE, name="boom")
    assert proj.run("upgrade").exit_code == 1

    code, report = status(proj)
    r3 = report["revisions"][-1]
    assert r3["last_step"] == "upgrade failed"
    assert "no_such_table" in r3["error"]
    if proj.url.startswith("sqlite"):
        # SQLite kept t3: the revision is half applied.
        assert "t3" in proj.tables()
        assert (code, r3["state"]) == (6, "dirty")
        assert report["summary"].startswith("dirty: r3 failed part-way")
    else:
        # PostgreSQL rolled the whole step back: r3 is only pending again.
        assert "t3" not in proj.tables()
        assert (code, r3["state"]) == (3, "failed")
        assert report["summary"] == "1 pending"
        assert proj.run("upgrade").exit_code == 1  # not refused: it runs and fails again
        assert ledger(proj.url)[-1] == ("r3", "upgrade", "failed")


def test_status_text_lists_the_ledger_facts(proj: Project) -> None:
    proj.ok("init")
    add_chain(proj.migrations, 1)
    proj.ok("upgrade")
    lines = proj.ok("status").output.splitlines()
    assert lines[0].split() == [
        "STATE", "REVISION", "APPLIED", "(UTC)", "BY", "COMMIT", "FILE", "MESSAGE"
    ]
    assert lines[1].split()[:2] == ["applied", "r1"]
    assert "same" in lines[1]
    assert lines[-1] == "Database at r1: at head"
    # Without --check the exit status is 0 whatever the state.
    add_revision(proj.migrations, "r2", "r1", "pass")
    assert proj.run("status").exit_code == 0
    assert proj.run("status", "--check").exit_code == 3


def test_status_is_a_read_api_function(proj: Project) -> None:
    import migrepo

    proj.ok("init")
    add_chain(proj.migrations, 2)
    proj.ok("upgrade", "r1")
    with proj.app().app_context():
        found = migrepo.status()
    assert (found.exit_code, found.summary, found.pending) == (3, "1 pending", ["r2"])
    assert [(rev.revision, rev.state) for rev in found.revisions] == [
        ("r1", "applied"),
        ("r2", "pending"),
    ]
    assert found.revisions[0].file_hash == found.revisions[0].applied_hash


def test_status_help_documents_the_exit_codes(proj: Project) -> None:
    text = proj.ok("status", "--help").output
    for line in ("0  at head", "3  pending", "4  ahead", "5  several heads", "6  dirty"):
        assert line in text


# --- upgrade --plan / downgrade --plan -------------------------------------------------


def plan_steps(output: str) -> list[tuple[str, str, str]]:
    """(direction, revision, hash) of each step ``--plan`` printed."""
    lines = output.splitlines()
    steps = []
    for number, line in enumerate(lines):
        if line[:1].isdigit():
            direction, revision = line.split(". ", 1)[1].split(":")[0].split()[:2]
            steps.append((direction, revision, lines[number + 1].split()[-1]))
    return steps


def ledger_hashes(url: str) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT direction, revision, content_hash FROM migrepo_ledger ORDER BY id")
            )
            return [(str(a), str(b), str(c)) for a, b, c in rows]
    finally:
        engine.dispose()


def test_plan_matches_what_upgrade_and_downgrade_then_run(any_proj: Project) -> None:
    proj = any_proj
    proj.ok("init")
    add_chain(proj.migrations, 2)
    proj.ok("upgrade", "r1")
    add_revision(proj.migrations, "r3", "r2", 'op.create_table("t3", sa.Column("id", sa.Integer))')
    add_revision(proj.migrations, "m1", "r1", 'op.create_table("m1", sa.Column("id", sa.Integer))')
    add_revision(proj.migrations, "m2", ("r3", "m1"), "pass")

    before = snapshot(proj)
    result = proj.ok("upgrade", "--plan")
    assert snapshot(proj) == before  # no version change, no ledger row, no table
    assert "Database at r1; upgrade to head would run:\n" in result.output
    planned = plan_steps(result.output)
    assert [rev for _, rev, _ in planned][-1] == "m2"
    assert {rev for _, rev, _ in planned} == {"r2", "r3", "m1", "m2"}

    proj.ok("upgrade")
    assert ledger_hashes(proj.url)[1:] == planned

    before = snapshot(proj)
    result = proj.ok("downgrade", "--plan", "r1")
    assert snapshot(proj) == before
    planned = plan_steps(result.output)
    assert planned[0][:2] == ("downgrade", "m2")
    proj.ok("downgrade", "r1")
    assert ledger_hashes(proj.url)[-len(planned):] == planned

    assert proj.ok("upgrade", "--plan", "r1").output.endswith(
        "\nNothing to upgrade: the database is at r1.\n"
    )


def test_plan_of_a_relative_target_and_a_bad_one(proj: Project) -> None:
    proj.ok("init")
    add_chain(proj.migrations, 3)
    proj.ok("upgrade", "r1")
    assert [rev for _, rev, _ in plan_steps(proj.ok("upgrade", "--plan", "+1").output)] == [
        "r2"
    ]
    proj.ok("upgrade")
    assert [rev for _, rev, _ in plan_steps(proj.ok("downgrade", "--plan").output)] == ["r3"]
    before = snapshot(proj)
    result = proj.run("upgrade", "--plan", "nosuch")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines()[-1] == "Error: No such revision or branch 'nosuch'"
    result = proj.run("upgrade", "--plan", "--sql")
    assert result.exit_code == 2
    assert "--plan and --sql do not go together" in result.output
    assert snapshot(proj) == before


# --- resolve and the refusal in upgrade ---------------------------------------------


def half_applied(proj: Project) -> Path:
    """r1, r2 applied; r3 created t3, then failed; returns r3's file."""
    proj.ok("init")
    add_chain(proj.migrations, 2)
    failing = add_revision(proj.migrations, "r3", "r2", FAILING_UPGRADE, name="boom")
    assert proj.run("upgrade").exit_code == 1
    assert proj.version() == {"r2"}
    return failing


def fix(failing: Path) -> None:
    """Take the failing statement out of r3."""
    text = failing.read_text()
    failing.write_text(text.replace('op.execute("SELECT * FROM no_such_table")', ""))


def test_upgrade_refuses_a_dirty_database(proj: Project) -> None:
    failing = half_applied(proj)
    fix(failing)
    before = snapshot(proj)
    result = proj.run("upgrade")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: the database is dirty: revision r3 failed part-way; see `flask db status`, "
        "repair the database by hand, then record it with "
        "`flask db resolve REV --applied` or `--rolled-back`"
    )
    assert snapshot(proj) == before
    # --sql runs nothing against the database: not refused.
    assert proj.run("upgrade", "--sql").exit_code == 0


def test_resolve_applied_stamps_and_records(proj: Project) -> None:
    failing = half_applied(proj)
    # The operator finishes r3 by hand: t3 is already there, nothing else to do.
    result = proj.ok("resolve", "r3", "--applied", "-m", "t3 was created; nothing else")
    assert result.output.endswith("\nResolved r3 as applied: the database is at it.\n")
    assert proj.version() == {"r3"}
    engine = sa.create_engine(proj.url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT * FROM migrepo_ledger ORDER BY id DESC LIMIT 1")
        ).mappings().one()
    engine.dispose()
    assert (row["revision"], row["direction"], row["outcome"]) == ("r3", "resolve", "applied")
    assert row["error"] == "t3 was created; nothing else"
    assert row["applied_by"] and row["content_hash"]
    code, report = status(proj)
    assert (code, report["summary"]) == (0, "at head")
    r3 = report["revisions"][-1]
    assert r3["state"] == "applied" and r3["last_step"] == "resolve applied"
    assert r3["applied_hash"] == r3["file_hash"]
    assert "Reason:  t3 was created; nothing else" in proj.ok("log", "-n", "1").output
    assert failing.exists()


def test_resolve_rolled_back_keeps_the_parent_then_upgrade_runs(proj: Project) -> None:
    failing = half_applied(proj)
    # The operator drops what r3 left, fixes the file, and records it.
    engine = sa.create_engine(proj.url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE t3"))
    engine.dispose()
    fix(failing)
    result = proj.ok("resolve", "r3", "--rolled-back", "-m", "dropped t3")
    assert result.output == "Resolved r3 as rolled back: the database is at its parent r2.\n"
    assert ledger(proj.url)[-2:] == [("r3", "upgrade", "failed"), ("r3", "resolve", "reverted")]
    assert proj.version() == {"r2"}
    assert ledger(proj.url)[-1] == ("r3", "resolve", "reverted")
    code, report = status(proj)
    assert (code, states(report)[-1]) == (3, ("r3", "pending"))
    proj.ok("upgrade")
    assert proj.version() == {"r3"}
    assert "t3" in proj.tables()
    assert status(proj)[0] == 0


def test_resolve_refuses_what_is_not_dirty(proj: Project) -> None:
    half_applied(proj)
    before = snapshot(proj)
    result = proj.run("resolve", "r2", "--applied", "-m", "why not")
    assert result.exit_code == 1
    assert result.output == (
        "Error: revision r2 is not dirty (its state is applied); nothing to resolve "
        "(dirty: r3, see `flask db status`)\n"
    )
    result = proj.run("resolve", "zz", "--rolled-back", "-m", "why not")
    assert result.exit_code == 1
    assert "it is not in this tree or the ledger" in result.output
    for args in (["r3", "--applied"], ["r3", "--applied", "-m", "  "], ["r3", "-m", "x"]):
        result = proj.run("resolve", *args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output
    assert "-m/--message" in proj.run("resolve", "r3", "--applied").output
    assert "--applied or --rolled-back" in proj.run("resolve", "r3", "-m", "x").output
    assert snapshot(proj) == before


# --- MariaDB: DDL commits as it runs ---------------------------------------------------


@pytest.mark.mariadb
def test_a_half_applied_revision_on_mariadb_resolved_both_ways(
    tmp_path: Path, mysql_url: str
) -> None:
    with project(tmp_path, mysql_url) as proj:
        failing = half_applied(proj)
        assert "t3" in proj.tables()  # committed by MariaDB before the error
        code, report = status(proj)
        assert (code, states(report)[-1]) == (6, ("r3", "dirty"))
        assert proj.run("upgrade").exit_code == 1

        # Rolled back: drop t3 by hand, fix the file, record it, upgrade.
        engine = sa.create_engine(mysql_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE t3"))
        engine.dispose()
        proj.ok("resolve", "r3", "--rolled-back", "-m", "dropped t3")
        assert proj.version() == {"r2"}
        assert status(proj)[0] == 3
        assert proj.run("upgrade").exit_code == 1  # still broken: dirty again
        assert status(proj)[0] == 6

        # Applied: t3 is what r3 was meant to do; record it as applied.
        proj.ok("resolve", "r3", "--applied", "-m", "t3 is all r3 does")
        assert proj.version() == {"r3"}
        code, report = status(proj)
        assert (code, report["summary"]) == (0, "at head")
        assert [step[1:] for step in ledger(mysql_url)[-4:]] == [
            ("resolve", "reverted"),
            ("upgrade", "failed"),
            ("stamp", "ok"),
            ("resolve", "applied"),
        ]
        assert failing.exists()


# --- async drivers --------------------------------------------------------------------


def test_status_plan_and_resolve_on_an_async_driver(aio_proj: Project) -> None:  # noqa: F811
    proj = aio_proj
    (proj.migrations / "versions" / "r2_boom.py").write_text(ASYNC_FAILING)
    assert plan_steps(proj.ok("upgrade", "--plan").output)[0][:2] == ("upgrade", "r2")
    assert proj.run("upgrade").exit_code == 1
    code, report = status(proj)
    dirty = proj.url.startswith("sqlite")
    expected = (6, ("r2", "dirty")) if dirty else (3, ("r2", "failed"))
    assert (code, states(report)[-1]) == expected
    if dirty:
        assert "the database is dirty" in proj.run("upgrade").output
        proj.ok("resolve", "r2", "--rolled-back", "-m", "nothing was left")
        assert status(proj)[0] == 3
        assert ledger_rows_of(proj)[0][:2] == ("resolve", "reverted")


ASYNC_FAILING = '''"""boom"""
from alembic import op

revision = "r2"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SELECT * FROM no_such_table")


def downgrade():
    pass
'''


def ledger_rows_of(proj: Project) -> list[tuple[str, str]]:
    """(direction, outcome) of the ledger's rows, newest first, read through `flask db log`."""
    rows = json.loads(proj.ok("log", "--format", "json").output)
    return [(row["direction"], row["outcome"]) for row in rows]


def test_plan_and_status_with_several_databases(tmp_path: Path) -> None:
    extra = f"sqlite:///{tmp_path / 'extra.db'}"
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", binds={"extra": extra}) as proj:
        proj.ok("init", "--multidb")
        proj.ok("migrate", "-m", "one", "--rev-id", "m1")
        planned = plan_steps(proj.ok("upgrade", "--plan").output)
        assert [step[:2] for step in planned] == [("upgrade", "m1"), ("upgrade", "m1")]
        assert "2. upgrade m1 [extra]: one" in proj.ok("upgrade", "--plan").output
        assert proj.version(extra) == set()
        proj.ok("upgrade")
        assert ledger_hashes(proj.url) == [planned[0]]
        assert ledger_hashes(extra) == [planned[1]]
        code, report = status(proj)
        assert (code, states(report)) == (0, [("m1", "applied")])
        assert "m1 (head)  " in proj.ok("status").output
