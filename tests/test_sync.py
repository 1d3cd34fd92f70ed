"""`flask db sync` after a branch switch, with real git repositories."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
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
    assert "Nothing to upgrade: the database would then be at this work tree's heads (r1)." in out
    assert "upgrade to" not in out and "Would upgrade" not in out
    assert any_proj.version() == {"f1"}
    assert "feature" in any_proj.tables()


def test_sync_downgrades_from_git_then_upgrades(any_proj: Project, repo: git.Repo) -> None:
    out = any_proj.ok("sync").stdout
    assert "Did downgrade f1" in out
    assert any_proj.version() == {"r1"}
    assert "feature" not in any_proj.tables()
    assert not list((any_proj.migrations / ".migrepo").glob("sync*"))  # scratch is gone
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
    assert "is neither in git nor in migrepo's cache, so it cannot be undone" in result.output
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
    for command in ("sync", "current"):
        result = proj.run(command)
        assert result.exit_code == 1
        assert "the ledger has no record of its content" in result.output
        assert "`flask db stamp --purge REVISION`" in result.output


# --- only what the work tree lacks is undone -----------------------------------


def revision_text(rev: str, down: object, table: str | None = None) -> str:
    """A revision file that creates ``table`` (or does nothing), by hand."""
    body_up = f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
    body_down = f'op.drop_table("{table}")'
    return (
        f'"""{rev}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {body_up if table else 'pass'}\n\n\n"
        f"def downgrade():\n    {body_down if table else 'pass'}\n"
    )


def add_rows(proj: Project, *tables: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(proj.url)
    with engine.begin() as connection:
        for name in tables:
            table = sa.table(name, sa.column("id"))
            connection.execute(table.insert(), [{"id": 1}, {"id": 2}, {"id": 3}])
    engine.dispose()


def row_count(proj: Project, name: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(proj.url)
    with engine.connect() as connection:
        count = connection.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
    engine.dispose()
    return int(count or 0)


def switch_branches(proj: Project, feature: dict[str, str]) -> git.Repo:
    """main holds r0 (user) and r1 (note); the `feature` branch adds ``feature``'s files.

    The database is upgraded to every head on the feature branch, with rows in
    main's tables, then main is checked out.
    """
    versions = proj.migrations / "versions"
    repo = git.Repo.init(proj.root, initial_branch="main")
    (proj.root / ".gitignore").write_text("*.db\n")
    proj.ok("init")
    proj.ok("migrate", "-m", "users", "--rev-id", "r0")
    (versions / "r1_note.py").write_text(revision_text("r1", "r0", "note"))
    repo.git.add("--all")
    repo.index.commit("main")
    repo.git.checkout("-b", "feature")
    for name, text in feature.items():
        (versions / name).write_text(text)
    repo.git.add("--all")
    repo.index.commit("feature")
    proj.ok("upgrade", "heads")
    add_rows(proj, "user", "note")
    repo.git.checkout("main")
    return repo


SHAPES = {
    # A sibling head: f1 branches off r0, beside main's r1.
    "sibling head": {"f1_feature.py": revision_text("f1", "r0", "feature")},
    # A second base: f1 has no parent at all.
    "new base": {"f1_feature.py": revision_text("f1", None, "feature")},
    # f1 beside r1, then a merge of both: the lacking revisions join main at r0 and r1.
    "merge": {
        "f1_feature.py": revision_text("f1", "r0", "feature"),
        "m1_merge.py": revision_text("m1", ("r1", "f1")),
    },
    # A line of two on top of main's head.
    "line": {
        "f1_feature.py": revision_text("f1", "r1", "feature"),
        "f2_more.py": revision_text("f2", "f1", "more"),
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_sync_undoes_only_what_the_work_tree_lacks(any_proj: Project, shape: str) -> None:
    repo = switch_branches(any_proj, SHAPES[shape])
    lacking = {"f1", "f2", "m1"} & {name.split("_")[0] for name in SHAPES[shape]}

    plan = any_proj.ok("sync", "--dry-run").stdout
    assert {line.split()[2] for line in plan.splitlines() if "downgrade" in line} == lacking
    assert "Would downgrade r" not in plan

    out = any_proj.ok("sync").stdout
    assert "Did downgrade r" not in out and "Did upgrade" not in out
    assert "Nothing to upgrade: the database is now at this work tree's heads (r1)." in out
    assert any_proj.version() == {"r1"}
    assert {"feature", "more"}.isdisjoint(any_proj.tables())
    assert row_count(any_proj, "user") == 3 and row_count(any_proj, "note") == 3
    assert "Already in sync" in any_proj.ok("sync").stdout
    repo.close()


def test_sync_upgrades_what_the_database_lacks(any_proj: Project) -> None:
    """The database lacks main's newer revision: sync says it upgraded exactly that."""
    repo = switch_branches(any_proj, SHAPES["sibling head"])
    (any_proj.migrations / "versions" / "r2_extra.py").write_text(
        revision_text("r2", "r1", "extra")
    )
    assert "Would upgrade r2\n" in any_proj.ok("sync", "--dry-run").stdout
    out = any_proj.ok("sync").stdout
    lines = out.splitlines()
    assert lines[2].startswith("Did downgrade f1 (content ") and lines[3:] == ["Did upgrade r2"]
    assert any_proj.version() == {"r2"} and "extra" in any_proj.tables()
    assert row_count(any_proj, "note") == 3
    repo.close()


def test_doctests() -> None:
    import doctest

    from migrepo.audit import sync as _sync

    result = doctest.testmod(_sync)
    assert result.attempted and not result.failed


@pytest.mark.parametrize("name", ["mig%20rations", "mig:rations", "100%:done"])
def test_sync_in_a_path_with_percent_or_colon(tmp_path: Path, name: str) -> None:
    """`%` is ConfigParser's interpolation and `:` the os path separator: neither may matter."""
    from tests.apps import project

    folder = tmp_path / name
    folder.mkdir()
    url = f"sqlite:///{tmp_path / 'app.db'}"  # a URL would decode %20
    with project(folder, url, directory=str(folder / "migrations")) as proj:
        upgraded_then_lost(proj)
        assert proj.ok("heads").stdout.startswith("r1 (head)")  # no interpolation error
        out = proj.ok("sync").stdout
        assert "Did downgrade f1 (content " in out and "from cache)" in out
        assert proj.version() == {"r1"} and "feature" not in proj.tables()


# --- each run has its own scratch folder ---------------------------------------

# The feature's downgrade stops half way (its table dropped, the version row
# not yet moved) until the test writes a line to its stdin: only in a child
# process started with SYNC_TEST_PAUSE set.
PAUSING_FEATURE = FEATURE.replace(
    '    op.drop_table("feature")',
    """    op.drop_table("feature")
    import os, sys
    if os.environ.get("SYNC_TEST_PAUSE"):
        print("paused in downgrade", flush=True)
        sys.stdin.readline()""",
)


@pytest.fixture
def other_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second empty database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    factory = request.getfixturevalue("pg_url_factory")
    url: str = factory()
    return url


def paused_sync(cwd: Path) -> subprocess.Popen[str]:
    """`flask db sync` in a child process, stopped inside the feature's downgrade."""
    from tests.test_locking import child_env, read_until

    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "db", "sync"],
        cwd=cwd,
        env={**child_env(), "SYNC_TEST_PAUSE": "1"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(proc.stdout, "paused in downgrade")
    except AssertionError:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(err) from None
    return proc


def resume(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.mark.parametrize("second", ["sync --dry-run", "sync of another database"])
def test_concurrent_syncs_from_one_work_tree_keep_apart(
    tmp_path: Path,
    db_url: str,
    other_url: str,
    flask_app_file: Callable[..., Path],
    second: str,
) -> None:
    """A sync runs in a child process and stops half way through its downgrade;
    another sync from the same work tree runs to the end meanwhile."""
    from tests.apps import project

    flask_app_file(db_url)
    with project(tmp_path, db_url) as proj, project(tmp_path, other_url) as other:
        with git.Repo.init(tmp_path, initial_branch="main") as repo:
            (tmp_path / ".gitignore").write_text("*.db\n__pycache__/\n")
            proj.ok("init")
            proj.ok("migrate", "--rev-id", "r1")
            repo.git.add("--all")
            repo.index.commit("initial")
            repo.git.checkout("-b", "feature")
            (proj.migrations / "versions" / "f1_feature.py").write_text(PAUSING_FEATURE)
            repo.git.add("--all")
            repo.index.commit("feature table")
            proj.ok("upgrade")
            other.ok("upgrade")
            repo.git.checkout("main")

        running = paused_sync(tmp_path)
        try:
            scratch = list((proj.migrations / ".migrepo").glob("sync*"))
            assert len(scratch) == 1 and any(scratch[0].iterdir())
            if second == "sync --dry-run":
                assert "Would downgrade f1" in proj.ok("sync", "--dry-run").stdout
            else:
                assert "Did downgrade f1" in other.ok("sync").stdout
                assert other.version() == {"r1"} and "feature" not in other.tables()
            assert any(scratch[0].iterdir())  # the running sync's files are untouched
        finally:
            code, out, err = resume(running)
        assert code == 0, err
        assert "Did downgrade f1" in out
        assert proj.version() == {"r1"} and "feature" not in proj.tables()
        assert not list((proj.migrations / ".migrepo").glob("sync*"))


def test_scratch_falls_back_to_the_system_temp_dir(tmp_path: Path) -> None:
    """When migrepo's cache folder cannot be written, a run's scratch goes elsewhere."""
    import tempfile

    from migrepo.audit.sync import scratch_location

    (tmp_path / ".migrepo").write_text("not a folder")
    with scratch_location(str(tmp_path)) as first, scratch_location(str(tmp_path)) as second:
        assert first != second and first.is_dir() and second.is_dir()
        assert first.parent == Path(tempfile.gettempdir())
    assert not first.exists() and not second.exists()


# --- --single-transaction -------------------------------------------------------


def failing_upgrade_after_switch(proj: Project) -> git.Repo:
    """The database is at f1 with rows in `feature`; main has r2, whose upgrade fails."""
    repo = switch_branches(proj, {"f1_feature.py": revision_text("f1", "r1", "feature")})
    add_rows(proj, "feature")
    failing = revision_text("r2", "r1", "extra").replace(
        "def upgrade():\n", "def upgrade():\n    op.execute('SELECT * FROM no_such_table')\n"
    )
    (proj.migrations / "versions" / "r2_extra.py").write_text(failing)
    return repo


def test_single_transaction_sync_is_one_transaction_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    """A failing upgrade rolls the downgrade back too: the feature's rows survive."""
    from tests.apps import project
    from tests.test_locking import ledger_steps

    with project(tmp_path, pg_url) as proj:
        failing_upgrade_after_switch(proj).close()
        before = ledger_steps(pg_url)

        result = proj.run("sync", "--single-transaction")
        assert result.exit_code == 1
        assert "no_such_table" in result.output and "Traceback" not in result.output
        assert proj.version() == {"f1"}
        assert row_count(proj, "feature") == 3 and "extra" not in proj.tables()
        assert ledger_steps(pg_url) == [*before, ("r2", "upgrade", "failed")]

        # Without it, each revision commits on its own: the downgrade stays.
        assert proj.run("sync").exit_code == 1
        assert proj.version() == {"r1"} and "feature" not in proj.tables()
        last_two = [("f1", "downgrade", "ok"), ("r2", "upgrade", "failed")]
        assert ledger_steps(pg_url)[-2:] == last_two


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_single_transaction_sync_without_transactional_ddl_says_so(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """SQLite (as Alembic drives it) and MariaDB commit each revision: the README says
    what then stays, and sync says it once."""
    from tests.apps import project
    from tests.test_locking import ledger_steps

    url = f"sqlite:///{tmp_path / 'app.db'}" if kind == "sqlite" else None
    url = url or str(request.getfixturevalue("mysql_url"))
    with project(tmp_path, url) as proj:
        failing_upgrade_after_switch(proj).close()
        result = proj.run("sync", "--single-transaction")
        assert result.exit_code == 1
        assert "commits each revision as it runs (no transactional DDL)" in result.output
        assert proj.version() == {"r1"} and "feature" not in proj.tables()
        assert ledger_steps(url)[-2:] == [("f1", "downgrade", "ok"), ("r2", "upgrade", "failed")]


def test_a_failing_downgrade_is_logged_as_one(any_proj: Project) -> None:
    from tests.test_locking import ledger_steps

    broken = revision_text("f1", "r1", "feature").replace(
        "def downgrade():\n", "def downgrade():\n    op.execute('SELECT * FROM no_such_table')\n"
    )
    switch_branches(any_proj, {"f1_feature.py": broken}).close()
    result = any_proj.run("sync")
    assert result.exit_code == 1 and "no_such_table" in result.output
    assert any_proj.version() == {"f1"} and row_count(any_proj, "note") == 3
    assert ledger_steps(any_proj.url)[-1] == ("f1", "downgrade", "failed")


def test_a_revision_deleted_before_it_was_committed_names_the_way_out(proj: Project) -> None:
    """Applied, never committed, then deleted, with no cached copy: neither `current`
    nor sync sends the user round in circles; both name the ways out."""
    import shutil

    with git.Repo.init(proj.root, initial_branch="main") as repo:
        (proj.root / ".gitignore").write_text("*.db\n")
        proj.ok("init")
        proj.ok("migrate", "--rev-id", "r1")
        repo.git.add("--all")
        repo.index.commit("initial")
        feature = proj.migrations / "versions" / "f1_feature.py"
        feature.write_text(FEATURE)
        proj.ok("upgrade")
        feature.unlink()
        shutil.rmtree(proj.migrations / ".migrepo")

        for command in ("current", "upgrade", "sync"):
            result = proj.run(command)
            assert result.exit_code == 1
            message = result.output.strip().splitlines()[-1]
            assert "revision f1" in message
            assert "restore its revision file if it was deleted before it was ever committed" in (
                message
            )
            assert "`flask db stamp --purge REVISION`" in message
            if command != "sync":
                assert "run `flask db sync` to bring" not in message
        assert proj.version() == {"f1"} and "feature" in proj.tables()
        assert repo.git.status("--porcelain") == ""


MULTIDB_FEATURE = '''"""feature on both databases"""
import sqlalchemy as sa
from alembic import op

revision = "f1"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade(engine_name=""):
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name=""):
    globals()[f"downgrade_{engine_name}"]()


def upgrade_():
    op.create_table("feature", sa.Column("id", sa.Integer, primary_key=True))


def downgrade_():
    op.drop_table("feature")


def upgrade_users():
    op.create_table("feature_users", sa.Column("id", sa.Integer, primary_key=True))


def downgrade_users():
    op.drop_table("feature_users")
'''


def test_sync_with_several_databases(tmp_path: Path) -> None:
    from tests.apps import project

    users = f"sqlite:///{tmp_path / 'users.db'}"
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", binds={"users": users}) as proj:
        proj.ok("init", "--multidb")
        proj.ok("migrate", "--rev-id", "r1")
        feature = proj.migrations / "versions" / "f1_feature.py"
        feature.write_text(MULTIDB_FEATURE)
        proj.ok("upgrade")
        add_rows(proj, "user")
        feature.unlink()

        assert "Did downgrade f1 (content " in proj.ok("sync").stdout
        assert proj.version() == proj.version(users) == {"r1"}
        assert "feature" not in proj.tables() and "feature_users" not in proj.tables(users)
        assert row_count(proj, "user") == 3
