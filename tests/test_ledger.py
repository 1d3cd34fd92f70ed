"""The ledger: one row per applied step, written with the step; `flask db log`; the cache."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrepo.store.reader import blob_hash
from tests.apps import Project, project

FAILING = '''"""boom"""
import sqlalchemy as sa
from alembic import op

revision = "r3"
down_revision = "r2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT * FROM no_such_table")


def downgrade():
    pass
'''


def ledger(proj: Project, table: str = "migrepo_ledger") -> list[dict[str, object]]:
    engine = sa.create_engine(proj.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def two_revisions(proj: Project) -> tuple[Path, Path]:
    proj.ok("init")
    proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
    proj.ok("revision", "-m", "second", "--rev-id", "r2")
    first, second = proj.revision_files()
    return first, second


def test_upgrade_downgrade_stamp_each_write_rows(any_proj: Project) -> None:
    first, second = two_revisions(any_proj)
    any_proj.ok("upgrade")
    any_proj.ok("downgrade")
    any_proj.ok("stamp", "r2")

    rows = ledger(any_proj)
    assert [(r["revision"], r["direction"], r["outcome"]) for r in rows] == [
        ("r1", "upgrade", "ok"),
        ("r2", "upgrade", "ok"),
        ("r2", "downgrade", "ok"),
        ("r2", "stamp", "ok"),
    ]
    assert rows[0]["content_hash"] == blob_hash(first.read_bytes())
    assert rows[1]["content_hash"] == blob_hash(second.read_bytes())
    assert all(r["git_commit"] is None and r["git_dirty"] is None for r in rows)
    assert all("@" in str(r["applied_by"]) for r in rows)
    assert all(r["migrepo_version"] == "0.1.0" and r["error"] is None for r in rows)
    assert all(int(r["duration_ms"]) >= 0 for r in rows)  # type: ignore[call-overload]
    assert "migrepo_ledger" in any_proj.tables(ledger=True)


def test_autogenerate_and_check_ignore_the_ledger_table(any_proj: Project) -> None:
    two_revisions(any_proj)
    any_proj.ok("upgrade")
    email = any_proj.app(email=True)
    any_proj.ok("migrate", "--rev-id", "r3", app=email)
    any_proj.ok("upgrade", app=email)
    assert "No changes in schema detected." in any_proj.ok("migrate", app=email).output
    assert "No new upgrade operations detected" in any_proj.ok("check", app=email).output


def test_ledger_table_name_is_configurable(tmp_path: Path, sqlite_url: str) -> None:
    with project(tmp_path, sqlite_url, config={"MIGREPO_LEDGER_TABLE": "audit_trail"}) as proj:
        two_revisions(proj)
        proj.ok("upgrade")
        assert {"audit_trail", "alembic_version"} <= proj.tables(ledger=True)
        assert "migrepo_ledger" not in proj.tables(ledger=True)
        assert [r["revision"] for r in ledger(proj, "audit_trail")] == ["r1", "r2"]


def test_failed_step_is_recorded_after_rollback(any_proj: Project) -> None:
    two_revisions(any_proj)
    any_proj.ok("upgrade")
    failing = any_proj.migrations / "versions" / "r3_boom.py"
    failing.write_text(FAILING)

    result = any_proj.run("upgrade")
    assert result.exit_code == 1
    assert f"(at {failing}:13)" in result.output
    assert any_proj.version() == {"r2"}

    last = ledger(any_proj)[-1]
    assert (last["revision"], last["direction"], last["outcome"]) == ("r3", "upgrade", "failed")
    assert last["content_hash"] == blob_hash(failing.read_bytes())
    assert "no_such_table" in str(last["error"])


def test_offline_sql_includes_the_ledger(proj: Project) -> None:
    two_revisions(proj)
    out = proj.ok("upgrade", "--sql").stdout
    assert "CREATE TABLE IF NOT EXISTS migrepo_ledger" in out
    assert out.count("INSERT INTO migrepo_ledger") == 2
    assert "'r1', 'upgrade'" in out


def test_log_text_and_json(proj: Project) -> None:
    two_revisions(proj)
    assert "The ledger is empty" in proj.ok("log").output
    proj.ok("upgrade")
    proj.ok("downgrade")

    text = proj.ok("log").stdout
    assert text.index("downgrade r2 (ok)") < text.index("upgrade r2 (ok)")
    assert "Content: " in text and "By:      " in text

    rows = json.loads(proj.ok("log", "--format", "json").stdout)
    assert [(r["direction"], r["revision"]) for r in rows] == [
        ("downgrade", "r2"),
        ("upgrade", "r2"),
        ("upgrade", "r1"),
    ]
    assert {
        "revision", "direction", "content_hash", "git_commit", "git_dirty", "applied_by",
        "started_at", "duration_ms", "outcome", "error", "migrepo_version",
    } <= set(rows[0])

    assert len(json.loads(proj.ok("log", "-n", "1", "--format", "json").stdout)) == 1
    only = json.loads(proj.ok("log", "--revision", "r1", "--format", "json").stdout)
    assert [r["revision"] for r in only] == ["r1"]


def test_applied_files_are_cached_by_hash(proj: Project) -> None:
    first, _ = two_revisions(proj)
    proj.ok("upgrade")
    digest = blob_hash(first.read_bytes())
    cached = proj.migrations / ".migrepo" / "objects" / digest[:2] / digest[2:]
    assert cached.read_bytes() == first.read_bytes()
    assert (proj.migrations / ".migrepo" / ".gitignore").read_text().splitlines()[-1] == "*"

    from migrepo.store.objects import ObjectCache

    cached.write_bytes(b"tampered")
    assert ObjectCache(proj.migrations).get(digest) is None
    assert not cached.exists()


def test_git_commit_and_dirty_flag_are_recorded(proj: Project) -> None:
    import git

    two_revisions(proj)
    with git.Repo.init(proj.root) as repo:
        repo.index.add([str(p) for p in proj.revision_files()])
        commit = repo.index.commit("migrations", author=git.Actor("Ada", "ada@example.org"))
        proj.ok("upgrade", "r1")
        (proj.root / "notes.txt").write_text("x")
        repo.index.add([str(proj.root / "notes.txt")])  # staged, not committed: dirty
        proj.ok("upgrade")
    rows = ledger(proj)
    assert [(r["git_commit"], bool(r["git_dirty"])) for r in rows] == [
        (commit.hexsha, False),
        (commit.hexsha, True),
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(proj.migrations / ".migrepo" / "objects")],
        cwd=proj.root,
    )
    assert ignored.returncode == 0


def test_verify_catches_an_applied_file_changed_afterwards(any_proj: Project) -> None:
    first, _ = two_revisions(any_proj)
    any_proj.ok("upgrade")
    original = first.read_bytes()
    first.write_bytes(original.replace(b"def downgrade", b"# edited\ndef downgrade"))

    result = any_proj.run("verify")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "changed after it was applied" in x)
    assert line.startswith("error: revision r1 changed after it was applied")
    assert blob_hash(first.read_bytes()) in line and blob_hash(original) in line
    assert "@" in line  # who applied it

    first.write_bytes(original)
    assert "changed after it was applied" not in any_proj.run("verify").output


def test_verify_ignores_a_changed_file_that_was_downgraded(proj: Project) -> None:
    _, second = two_revisions(proj)
    proj.ok("upgrade")
    proj.ok("downgrade")
    second.write_text(second.read_text() + "\n# reworked before applying again\n")
    assert "changed after it was applied" not in proj.run("verify").output


def test_content_hash_is_git_blob_hash_of_the_raw_bytes(tmp_path: Path) -> None:
    """No line-ending normalisation: CRLF and LF files hash differently, as
    `git hash-object --no-filters` does (the same as plain `git hash-object`
    when git applies no eol conversion)."""
    lf = tmp_path / "lf.py"
    crlf = tmp_path / "crlf.py"
    lf.write_bytes(b'revision = "a"\ndown_revision = None\n')
    crlf.write_bytes(b'revision = "a"\r\ndown_revision = None\r\n')
    for path in (lf, crlf):
        expected = subprocess.run(
            ["git", "hash-object", "--no-filters", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert blob_hash(path.read_bytes()) == expected
    assert blob_hash(lf.read_bytes()) != blob_hash(crlf.read_bytes())


def test_log_revision_takes_a_prefix_and_says_when_it_has_no_rows(proj: Project) -> None:
    proj.ok("init")
    proj.ok("revision", "-m", "one", "--rev-id", "abc1")
    proj.ok("revision", "-m", "two", "--rev-id", "abd2")
    proj.ok("revision", "-m", "three", "--rev-id", "abc10")
    proj.ok("upgrade")

    assert proj.ok("log", "--revision", "abd").output.startswith("upgrade abd2 (ok)\n")
    exact = json.loads(proj.ok("log", "--revision", "abc1", "--format", "json").output)
    assert [row["revision"] for row in exact] == ["abc1"]

    ambiguous = proj.run("log", "--revision", "ab")
    assert ambiguous.exit_code == 2
    assert "revision prefix 'ab' is ambiguous (abc1, abc10, abd2)" in ambiguous.output

    none = proj.ok("log", "--revision", "zz9")
    assert none.output == "No ledger rows for revision zz9.\n"
    assert json.loads(proj.ok("log", "--revision", "zz9", "--format", "json").output) == []
    # LIKE wildcards in the argument are plain characters.
    assert "No ledger rows" in proj.ok("log", "--revision", "a%").output
    assert "The ledger is empty" not in none.output


def test_a_downward_stamp_is_logged_as_where_it_lands(any_proj: Project) -> None:
    first, _ = two_revisions(any_proj)
    any_proj.ok("stamp", "r2")
    any_proj.ok("stamp", "r1")
    any_proj.ok("stamp", "base")
    rows = ledger(any_proj)
    assert [(r["revision"], r["direction"]) for r in rows] == [
        ("r2", "stamp"),
        ("r1", "stamp"),
        ("base", "stamp"),
    ]
    assert rows[1]["content_hash"] == blob_hash(first.read_bytes())
    assert rows[2]["content_hash"] is None
    assert any_proj.ok("log", "-n", "1").output.startswith("stamp base (ok)\n")


def test_verify_ignores_a_changed_file_that_was_stamped_away(proj: Project) -> None:
    first, second = two_revisions(proj)
    proj.ok("stamp", "r2")  # r2 never ran: a stamp counts it as applied
    proj.ok("stamp", "r1")  # ... until a stamp below it takes it back
    second.write_text(second.read_text() + "\n# reworked before applying\n")
    assert "changed after it was applied" not in proj.run("verify").output

    proj.ok("stamp", "r2")
    proj.ok("stamp", "base")
    first.write_text(first.read_text() + "\n# reworked too\n")
    assert "changed after it was applied" not in proj.run("verify").output

    proj.ok("upgrade")  # applied for real: editing it now is tampering
    second.write_text(second.read_text() + "\n# edited after it ran\n")
    assert "error: revision r2 changed after it was applied" in proj.run("verify").output


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "invalid MIGREPO_LEDGER_TABLE None"),
        ("", "invalid MIGREPO_LEDGER_TABLE ''"),
        ("alembic_version", "that is the version table"),
        ("audit trail", "use letters, digits and '_'"),
        ("a" * 64, "table names are at most 63 characters"),
    ],
)
def test_a_bad_ledger_table_name_stops_the_run_before_it_starts(
    tmp_path: Path, pg_url: str, value: object, problem: str
) -> None:
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        proj.ok("revision", "-m", "initial", "--rev-id", "r1")
    with project(tmp_path, pg_url, config={"MIGREPO_LEDGER_TABLE": value}) as proj:
        for args in (["upgrade"], ["stamp", "r1"], ["downgrade", "base"], ["log"], ["migrate"]):
            result = proj.run(*args)
            assert result.exit_code == 2, result.output
            assert result.output.strip().splitlines()[-1].startswith("Error: ")
            assert problem in result.output
            assert "Traceback" not in result.output
        assert proj.tables(ledger=True) == set()
        assert proj.version() == set()
