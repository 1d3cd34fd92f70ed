"""The commands on MariaDB (PyMySQL): the ledger, the GET_LOCK lock, a failing revision.

MariaDB commits DDL statement by statement, so unlike PostgreSQL a failing revision
keeps whatever DDL it ran before the error; what stays all-or-nothing is the version
update and the ledger row, which come after the revision's own code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from migrepo.db.lock import lock_name
from migrepo.errors import DatabaseError
from tests.apps import project
from tests.test_locking import (
    WAITING,
    ScriptedConnection,
    add_chain,
    add_revision,
    child_env,
    flask_db,
    ledger_steps,
    processes,
    query,
    read_until,
)

pytestmark = pytest.mark.mariadb

FAILING_UPGRADE = """\
op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))
op.execute("SELECT * FROM no_such_table")
"""


def database(url: str) -> str:
    name = sa.make_url(url).database
    assert name
    return name


def tables(url: str) -> set[str]:
    rows = query(
        url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    return {row[0] for row in rows}


def lock_description(url: str) -> str:
    return f"GET_LOCK('{lock_name(database(url))}')"


@contextmanager
def holding_the_lock(url: str, name: str | None = None) -> Iterator[Callable[[], None]]:
    """Hold the ``GET_LOCK`` migrepo takes for ``url``'s database (or the lock ``name``).

    Yields a function that lets go; the lock lives on a connection of its own, as
    migrepo's does, and goes at the latest when that connection is closed.
    """
    name = name or lock_name(database(url))
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            got = connection.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name})
            assert got.scalar() == 1, f"{name} is already taken"
            held = True

            def release() -> None:
                nonlocal held
                if held:
                    connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
                    held = False

            try:
                yield release
            finally:
                release()
    finally:
        engine.dispose()


def flask_db_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args],
        cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def app_dir(tmp_path: Path, mysql_url: str, flask_app_file: Callable[..., Path]) -> Path:
    """tmp_path with app.py on ``mysql_url`` and an empty migrations directory."""
    flask_app_file(mysql_url)
    with project(tmp_path, mysql_url) as proj:
        proj.ok("init")
    return tmp_path


# --- the commands ---------------------------------------------------------------------


def test_upgrade_downgrade_stamp_current_check(tmp_path: Path, mysql_url: str) -> None:
    with project(tmp_path, mysql_url) as proj:
        proj.ok("init")
        proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
        email = proj.app(email=True)
        assert proj.run("check", app=email).exit_code == 1  # nothing applied yet
        proj.ok("upgrade")
        proj.ok("migrate", "-m", "add email", "--rev-id", "r2", app=email)
        assert "email_address" in (proj.migrations / "versions" / "r2_add_email.py").read_text()

        result = proj.run("check", app=email)
        assert result.exit_code == 1
        assert "Target database is not up to date" in result.output

        proj.ok("upgrade", app=email)
        assert proj.version() == {"r2"}
        assert proj.tables() == {"alembic_version", "user"}
        assert "r2 (head)" in proj.ok("current", app=email).output
        assert "No new upgrade operations detected" in proj.ok("check", app=email).output
        assert "No changes in schema detected." in proj.ok("migrate", app=email).output

        proj.ok("downgrade", app=email)
        assert proj.version() == {"r1"}
        proj.ok("downgrade", "base", app=email)
        assert proj.version() == set()
        assert proj.tables() == {"alembic_version"}

        proj.ok("stamp", "r2", app=email)
        assert proj.version() == {"r2"}
        assert "user" not in proj.tables()  # stamp runs no migration
        proj.ok("stamp", "--purge", "r1", app=email)
        assert proj.version() == {"r1"}

        assert ledger_steps(mysql_url) == [
            ("r1", "upgrade", "ok"),
            ("r2", "upgrade", "ok"),
            ("r2", "downgrade", "ok"),
            ("r1", "downgrade", "ok"),
            ("r2", "stamp", "ok"),
            ("r1", "stamp", "ok"),
        ]


def test_ledger_rows_and_log(tmp_path: Path, mysql_url: str) -> None:
    with project(tmp_path, mysql_url) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 2)
        proj.ok("upgrade")

        rows = json.loads(proj.ok("log", "--format", "json").stdout)
        assert [(r["revision"], r["direction"], r["outcome"]) for r in rows] == [
            ("r2", "upgrade", "ok"),
            ("r1", "upgrade", "ok"),
        ]
        assert all(r["content_hash"] and len(r["content_hash"]) == 40 for r in rows)
        assert all("@" in r["applied_by"] and r["error"] is None for r in rows)
        assert all(r["started_at"] and r["duration_ms"] >= 0 for r in rows)
        assert "upgrade r2 (ok)" in proj.ok("log").stdout
        assert "migrepo_ledger" in proj.tables(ledger=True)


# --- the lock ------------------------------------------------------------------------


def test_concurrent_upgrades_take_turns_and_apply_each_revision_once(
    app_dir: Path, mysql_url: str
) -> None:
    add_chain(app_dir / "migrations", 4)
    count = 4
    with holding_the_lock(mysql_url) as release, processes() as procs:
        procs += [flask_db(app_dir, "upgrade") for _ in range(count)]
        waiting = [read_until(proc.stderr, WAITING)[0] for proc in procs]
        release()
        outputs = [proc.communicate(timeout=120) for proc in procs]

    assert [proc.returncode for proc in procs] == [0] * count, [err for _, err in outputs]
    assert waiting == [f"{WAITING} ({lock_description(mysql_url)})..."] * count
    # Exactly one run applied the revisions; the others found the database at r4.
    assert sum("Running upgrade" in err for _, err in outputs) == 1
    assert query(mysql_url, "SELECT version_num FROM alembic_version") == [("r4",)]
    assert sorted(query(mysql_url, "SELECT rev FROM runs")) == [
        ("r1",), ("r2",), ("r3",), ("r4",)
    ]
    assert ledger_steps(mysql_url) == [(f"r{k}", "upgrade", "ok") for k in range(1, 5)]
    # Every run let go of the lock: it is free again.
    assert query(mysql_url, f"SELECT IS_FREE_LOCK('{lock_name(database(mysql_url))}')") == [
        (1,)
    ]


def test_lock_timeout_fails_with_one_line_and_changes_nothing(
    app_dir: Path, mysql_url: str
) -> None:
    add_chain(app_dir / "migrations", 4)
    with holding_the_lock(mysql_url), processes() as procs:
        procs.append(flask_db(app_dir, "upgrade", "--lock-timeout", "1"))
        _, err = procs[0].communicate(timeout=60)

    assert procs[0].returncode == 1
    assert "Traceback" not in err
    lock = lock_description(mysql_url)
    assert err.strip().splitlines() == [
        f"{WAITING} ({lock})...",
        f"Error: another migration run still holds the lock ({lock}) after 1 s; "
        "try again later, or raise --lock-timeout (MIGREPO_LOCK_TIMEOUT)",
    ]
    assert tables(mysql_url) == set()


def test_the_lock_of_another_database_is_another_lock(tmp_path: Path, mysql_url: str) -> None:
    """GET_LOCK names are server-wide: the name covers the database, so others never wait."""
    with project(tmp_path, mysql_url) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 1)
        with holding_the_lock(mysql_url, lock_name(database(mysql_url) + "_other")):
            result = proj.ok("upgrade", "--lock-timeout", "1")
        assert WAITING not in result.output
        assert proj.version() == {"r1"}


# --- a failing revision -------------------------------------------------------------


def test_a_failing_revision_leaves_the_last_good_one(app_dir: Path, mysql_url: str) -> None:
    migrations = app_dir / "migrations"
    add_chain(migrations, 2)
    failing = add_revision(migrations, "r3", "r2", FAILING_UPGRADE, name="boom")

    result = flask_db_run(app_dir, "upgrade")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = next(n for n, text in enumerate(failing.read_text().splitlines(), 1)
                if "no_such_table" in text)
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: revision r3 failed: database error: "
        f"(1146, \"Table '{database(mysql_url)}.no_such_table' doesn't exist\") "
        f"(at migrations/versions/r3_boom.py:{line})"
    )
    assert query(mysql_url, "SELECT version_num FROM alembic_version") == [("r2",)]
    assert ledger_steps(mysql_url) == [
        ("r1", "upgrade", "ok"),
        ("r2", "upgrade", "ok"),
        ("r3", "upgrade", "failed"),
    ]
    [(error,)] = query(mysql_url, "SELECT error FROM migrepo_ledger WHERE outcome = 'failed'")
    assert "no_such_table" in error
    # MariaDB commits each DDL statement as it runs: the rollback cannot undo t3.
    assert tables(mysql_url) == {"alembic_version", "migrepo_ledger", "runs", "t1", "t2", "t3"}

    # Resume: fix the revision (it must now cope with t3 being there), upgrade again;
    # r1 and r2 are not run twice.
    add_revision(
        migrations, "r3", "r2", 'op.execute("INSERT INTO runs (rev) VALUES (\'r3\')")',
        name="boom",
    )
    resumed = flask_db_run(app_dir, "upgrade")
    assert resumed.returncode == 0, resumed.stderr
    assert query(mysql_url, "SELECT version_num FROM alembic_version") == [("r3",)]
    assert sorted(query(mysql_url, "SELECT rev FROM runs")) == [("r1",), ("r2",), ("r3",)]
    assert ledger_steps(mysql_url)[-1] == ("r3", "upgrade", "ok")


def test_an_unbounded_wait_asks_for_a_year_at_a_time_on_mariadb() -> None:
    """MySQL waits for ever on ``GET_LOCK(name, -1)``; MariaDB 10.11 returns NULL at once."""
    from migrepo.db.lock_server import _YEAR
    from migrepo.db.lock_server import MySqlLock as _MySqlLock

    waits: list[str] = []
    name = lock_name("shop")
    connection: Any = ScriptedConnection([0, None, 0, 0, 1])
    _MySqlLock(name, None, waits.append).acquire(connection)
    assert [params["timeout"] for _, params in connection.asked] == [0, -1, _YEAR, _YEAR, _YEAR]
    assert waits == [f"GET_LOCK('{name}')"]

    connection = ScriptedConnection([0, None, None])
    with pytest.raises(DatabaseError, match="the server returned None"):
        _MySqlLock(name, None, waits.append).acquire(connection)
