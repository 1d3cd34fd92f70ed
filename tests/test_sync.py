"""`flask db sync` after a branch switch, with real git repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from tests.apps import Project

FEATURE = '''"""add feature table"""
import sqlalchemy as sa
from alembic import op

revision = "f1"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("feature", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("feature")
'''


@pytest.fixture
def repo(any_proj: Project) -> Iterator[git.Repo]:
    """main holds r1; branch `feature` adds f1 (by another author); the db is at f1, on main."""
    with git.Repo.init(any_proj.root, initial_branch="main") as repo:
        (any_proj.root / ".gitignore").write_text("*.db\n")
        any_proj.ok("init")
        any_proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
        repo.git.add("--all")
        repo.index.commit("initial", author=git.Actor("Ada", "ada@example.org"))
        repo.git.checkout("-b", "feature")
        (any_proj.migrations / "versions" / "f1_feature.py").write_text(FEATURE)
        repo.git.add("--all")
        repo.index.commit("feature table", author=git.Actor("Bo", "bo@example.org"))
        any_proj.ok("upgrade")
        repo.git.checkout("main")
        yield repo


def test_commands_explain_a_database_ahead_of_the_work_tree(
    any_proj: Project, repo: git.Repo
) -> None:
    for command in ("upgrade", "current", "downgrade"):
        result = any_proj.run(command)
        assert result.exit_code == 1
        message = result.output.strip().splitlines()[-1]
        assert message.startswith("Error: the database is at revision f1, which this work tree")
        assert "feature table, on branch feature" in message
        assert "run `flask db sync`" in message
    assert any_proj.version() == {"f1"}


def test_dry_run_prints_the_plan_and_changes_nothing(any_proj: Project, repo: git.Repo) -> None:
    out = any_proj.ok("sync", "--dry-run").stdout
    assert "Would downgrade f1 (content " in out and "from git)" in out
    assert "Would upgrade to r1" in out
    assert any_proj.version() == {"f1"}
    assert "feature" in any_proj.tables()


def test_sync_downgrades_from_git_then_upgrades(any_proj: Project, repo: git.Repo) -> None:
    out = any_proj.ok("sync").stdout
    assert "Did downgrade f1" in out
    assert any_proj.version() == {"r1"}
    assert "feature" not in any_proj.tables()
    assert not (any_proj.migrations / ".migrepo" / "sync").exists()
    assert "Already in sync" in any_proj.ok("sync").stdout
    assert any_proj.ok("current").stdout.strip() == "r1 (head)"
    assert repo.git.status("--porcelain") == ""  # the work tree is untouched


def upgraded_then_lost(proj: Project) -> None:
    """The database is at f1, whose file is gone from the work tree (no git here)."""
    proj.ok("init")
    proj.ok("migrate", "--rev-id", "r1")
    feature = proj.migrations / "versions" / "f1_feature.py"
    feature.write_text(FEATURE)
    proj.ok("upgrade")
    feature.unlink()


def test_sync_uses_the_cache_without_git(proj: Project) -> None:
    upgraded_then_lost(proj)

    assert "from cache" in proj.ok("sync", "--dry-run").stdout
    proj.ok("sync")
    assert proj.version() == {"r1"} and "feature" not in proj.tables()


def test_sync_refuses_when_the_script_cannot_be_found(proj: Project) -> None:
    import shutil

    upgraded_then_lost(proj)
    shutil.rmtree(proj.migrations / ".migrepo")

    result = proj.run("sync")
    assert result.exit_code == 1
    assert "neither in git's object database nor in migrepo's cache" in result.output
    assert "Traceback" not in result.output
    assert proj.version() == {"f1"} and "feature" in proj.tables()


def test_sync_refuses_tampered_cache(proj: Project) -> None:
    upgraded_then_lost(proj)
    for cached in (proj.migrations / ".migrepo" / "objects").rglob("*"):
        if cached.is_file() and b"feature" in cached.read_bytes():
            cached.write_bytes(cached.read_bytes().replace(b"drop_table", b"print"))

    result = proj.run("sync")
    assert result.exit_code == 1
    assert proj.version() == {"f1"} and "feature" in proj.tables()


def test_sync_with_no_ledger_entry_explains(proj: Project, tmp_path: Path) -> None:
    proj.ok("init")
    proj.ok("migrate", "--rev-id", "r1")
    proj.ok("upgrade")
    proj.ok("stamp", "--purge", "r1")
    import sqlalchemy as sa

    engine = sa.create_engine(proj.url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'zz9'"))
    engine.dispose()
    result = proj.run("sync")
    assert result.exit_code == 1
    assert "the ledger has no record of its content" in result.output
