"""One migration run at a time: concurrent `flask db upgrade` processes on one database.

The tests hold the migration lock themselves first, start the runs, read
each run's "Waiting" line from its stderr (a blocking read: no sleeping),
and only then let go, so every run is known to have waited.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest
import sqlalchemy as sa

from migrepo.db.lock import lock_key, lock_name, migration_lock, sqlite_lock_path
from migrepo.errors import LockTimeout
from tests.apps import Project, project, revision_text

WAITING = "Waiting for another migration run to finish"

def add_revision(
    migrations: Path,
    rev: str,
    down: str | None,
    upgrade: str,
    downgrade: str = "pass",
    name: str = "step",
) -> Path:
    """Write ``versions/<rev>_<name>.py`` with the given function bodies (one statement a line)."""
    path = migrations / "versions" / f"{rev}_{name}.py"
    path.write_text(revision_text(rev, down, upgrade, downgrade))
    return path


def add_chain(migrations: Path, count: int) -> list[str]:
    """r1..rN: r1 creates the table ``runs``; each rK creates ``tK`` and adds 'rK' to runs."""
    revs = [f"r{k}" for k in range(1, count + 1)]
    for k, rev in enumerate(revs, start=1):
        first = 'op.create_table("runs", sa.Column("rev", sa.String(8)))\n' if k == 1 else ""
        add_revision(
            migrations,
            rev,
            revs[k - 2] if k > 1 else None,
            first
            + f'op.create_table("t{k}", sa.Column("id", sa.Integer, primary_key=True))\n'
            + f"op.execute(\"INSERT INTO runs (rev) VALUES ('{rev}')\")",
            f'op.drop_table("t{k}")' + ('\nop.drop_table("runs")' if k == 1 else ""),
        )
    return revs


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def ledger_steps(url: str) -> list[tuple[str, str, str]]:
    rows = query(url, "SELECT revision, direction, outcome FROM migrepo_ledger ORDER BY id")
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MIGREPO_"))}


def flask_db(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """Start `flask db ARGS` on the app in ``cwd``; stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args],
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(stream: IO[str] | None, needle: str) -> tuple[str, str]:
    """Read lines (blocking) until one holds ``needle``: (that line, everything read)."""
    assert stream is not None
    seen = ""
    for line in iter(stream.readline, ""):
        seen += line
        if needle in line:
            return line.rstrip("\n"), seen
    raise AssertionError(f"the process ended without printing {needle!r}:\n{seen}")


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """A list to start processes into; any still running at the end are killed and reaped."""
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@contextmanager
def holding_the_lock(url: str) -> Iterator[Callable[[], None]]:
    """Hold the migration lock of the database at ``url``; yields a function that lets go."""
    if url.startswith("sqlite"):
        path = sqlite_lock_path(sa.make_url(url))
        assert path is not None
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        closed = False

        def release_file() -> None:
            nonlocal closed
            if not closed:
                os.close(fd)
                closed = True

        try:
            yield release_file
        finally:
            release_file()
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({lock_key()})")
            held = True

            def release_pg() -> None:
                nonlocal held
                if held:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_key()})")
                    held = False

            try:
                yield release_pg
            finally:
                release_pg()
    finally:
        engine.dispose()


def lock_description(url: str) -> str:
    if url.startswith("sqlite"):
        return f"lock file {sqlite_lock_path(sa.make_url(url))}"
    return f"PostgreSQL advisory lock {lock_key()}"


TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}


@pytest.fixture
def app_dir(tmp_path: Path, db_url: str, flask_app_file: Callable[..., Path]) -> Path:
    """tmp_path with app.py on ``db_url``, a migrations directory and revisions r1..r4."""
    flask_app_file(db_url)
    with project(tmp_path, db_url) as proj:
        proj.ok("init")
    add_chain(tmp_path / "migrations", 4)
    return tmp_path


# --- concurrent runs -------------------------------------------------------------


def test_concurrent_upgrades_take_turns_and_apply_each_revision_once(
    app_dir: Path, db_url: str
) -> None:
    count = 4 if db_url.startswith("sqlite") else 8
    with holding_the_lock(db_url) as release, processes() as procs:
        procs += [flask_db(app_dir, "upgrade") for _ in range(count)]
        waiting = [read_until(proc.stderr, WAITING)[0] for proc in procs]
        release()
        outputs = [proc.communicate(timeout=120) for proc in procs]

    assert [proc.returncode for proc in procs] == [0] * count, [err for _, err in outputs]
    assert len(waiting) == count
    assert waiting == [f"{WAITING} ({lock_description(db_url)})..."] * count
    lock_file = sqlite_lock_path(sa.make_url(db_url))
    assert lock_file is None or not lock_file.exists()  # the last holder removed it
    # Exactly one run applied the revisions; the others found the database at r4.
    assert sum("Running upgrade" in err for _, err in outputs) == 1
    assert query(db_url, "SELECT version_num FROM alembic_version") == [("r4",)]
    assert sorted(query(db_url, "SELECT rev FROM runs")) == [("r1",), ("r2",), ("r3",), ("r4",)]
    assert ledger_steps(db_url) == [(f"r{k}", "upgrade", "ok") for k in range(1, 5)]


def test_lock_timeout_fails_with_one_line_and_changes_nothing(app_dir: Path, db_url: str) -> None:
    with holding_the_lock(db_url), processes() as procs:
        procs.append(flask_db(app_dir, "upgrade", "--lock-timeout", "1"))
        _, err = procs[0].communicate(timeout=60)

    assert procs[0].returncode == 1
    assert "Traceback" not in err
    lock = lock_description(db_url)
    assert err.strip().splitlines() == [
        f"{WAITING} ({lock})...",
        f"Error: another migration run still holds the lock ({lock}) after 1 s; "
        "try again later, or raise --lock-timeout (MIGREPO_LOCK_TIMEOUT)",
    ]
    tables = query(db_url, TABLES_SQL[sa.make_url(db_url).get_backend_name()])
    assert tables == []


# --- which commands lock, in-process ---------------------------------------------


@pytest.fixture
def ready(proj: Project) -> Project:
    """A SQLite project with r1..r3 written and r1 applied."""
    proj.ok("init")
    add_chain(proj.migrations, 3)
    proj.ok("upgrade", "r1")
    return proj


@pytest.mark.parametrize(
    "args",
    [
        ("upgrade",),
        ("downgrade",),
        ("stamp", "r2"),
        ("sync",),
    ],
)
def test_commands_that_move_the_database_wait_for_the_lock(
    ready: Project, args: tuple[str, ...]
) -> None:
    with holding_the_lock(ready.url):
        result = ready.run(*args, "--lock-timeout", "0.2")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(
        "Error: another migration run still holds the lock (lock file "
    )
    assert "after 0.2 s" in result.output
    assert ready.version() == {"r1"}


@pytest.mark.parametrize(
    "args",
    [
        ("upgrade", "--sql", "--lock-timeout", "0.2"),
        ("downgrade", "--sql", "r2:r1", "--lock-timeout", "0.2"),
        ("stamp", "--sql", "r2", "--lock-timeout", "0.2"),
        ("sync", "--dry-run", "--lock-timeout", "0.2"),
        ("current",),
        ("log",),
    ],
)
def test_offline_and_read_only_commands_do_not_lock(
    ready: Project, args: tuple[str, ...]
) -> None:
    with holding_the_lock(ready.url):
        ready.ok(*args)
    assert ready.version() == {"r1"}


def test_lock_timeout_from_the_app_config(tmp_path: Path, sqlite_url: str) -> None:
    with project(tmp_path, sqlite_url, config={"MIGREPO_LOCK_TIMEOUT": 0.2}) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 1)
        with holding_the_lock(sqlite_url):
            result = proj.run("upgrade")
        assert result.exit_code == 1
        assert "after 0.2 s; try again later" in result.output
        # The command line wins over the config.
        proj.config["MIGREPO_LOCK_TIMEOUT"] = "soon"
        assert proj.run("upgrade").exit_code == 2
        proj.ok("upgrade", "--lock-timeout", "5")
        assert proj.version() == {"r1"}


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_lock_timeout_must_be_positive(ready: Project, value: str) -> None:
    result = ready.run("upgrade", "--lock-timeout", value)
    assert result.exit_code == 2
    assert "--lock-timeout" in result.output


def test_the_lock_is_released_after_a_failed_run(ready: Project) -> None:
    add_revision(ready.migrations, "r4", "r3", 'op.execute("SELECT * FROM no_such_table")')
    assert ready.run("upgrade").exit_code == 1
    lock_file = sqlite_lock_path(sa.make_url(ready.url))
    assert lock_file is not None and not lock_file.exists()
    # Held by no one: taking it does not wait.
    waits: list[str] = []
    engine = sa.create_engine(ready.url)
    try:
        with migration_lock(engine, timeout=0.1, on_wait=waits.append):
            pass
    finally:
        engine.dispose()
    assert waits == []


@pytest.mark.postgres
def test_async_driver_waits_and_times_out(tmp_path: Path, pg_url: str) -> None:
    url = pg_url.replace("postgresql+psycopg://", "postgresql+psycopg_async://")
    with project(tmp_path, url) as proj:
        proj.ok("init", "-t", "aioflask")
        add_chain(proj.migrations, 2)
        with holding_the_lock(pg_url):
            result = proj.run("upgrade", "--lock-timeout", "0.3")
        assert result.exit_code == 1
        assert f"(PostgreSQL advisory lock {lock_key()}) after 0.3 s" in result.output
        proj.ok("upgrade")
        assert proj.version(pg_url) == {"r2"}
    assert query(pg_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


@pytest.mark.postgres
def test_version_table_and_schema_make_the_key(tmp_path: Path, pg_url: str) -> None:
    """Another version table is another lock: its runs do not wait for this one."""
    with project(tmp_path, pg_url, migrate_kwargs={"version_table": "other_version"}) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 1)
        with holding_the_lock(pg_url):
            proj.ok("upgrade", "--lock-timeout", "0.2")
        assert proj.version(table="other_version") == {"r1"}
    assert lock_key("other_version") != lock_key()
    assert lock_key("alembic_version", "app") != lock_key()


# --- the lock itself ---------------------------------------------------------------


def test_in_memory_sqlite_needs_no_lock() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with migration_lock(engine) as description:
            assert description.startswith("no lock")
    finally:
        engine.dispose()
    assert sqlite_lock_path(sa.make_url("sqlite:///file:x.db?mode=memory&uri=true")) is None
    assert sqlite_lock_path(sa.make_url("sqlite:////srv/app.db")) == Path(
        "/srv/app.db.migrepo-lock"
    )


def test_other_databases_lock_a_file_in_the_migrations_directory(tmp_path: Path) -> None:
    engine: Any = SimpleNamespace(dialect=SimpleNamespace(name="somedb", is_async=False))
    waits: list[str] = []
    with migration_lock(engine, directory=tmp_path) as description:
        lock_file = tmp_path / ".migrepo" / "lock"
        assert description == f"lock file {lock_file}"
        assert lock_file.exists()
        assert (tmp_path / ".migrepo" / ".gitignore").exists()
        with (
            pytest.raises(LockTimeout, match=r"after 0\.1 s"),
            migration_lock(engine, directory=tmp_path, timeout=0.1, on_wait=waits.append),
        ):
            pass
    assert waits == [description]
    assert not lock_file.exists()


class ScriptedConnection:
    """Answers ``SELECT GET_LOCK(...)`` from a script; records what was asked."""

    def __init__(self, answers: list[int | None]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def execute(self, statement: Any, params: dict[str, Any]) -> Any:
        self.asked.append((str(statement), params))
        answer = self.answers.pop(0) if "GET_LOCK" in str(statement) else 1
        return SimpleNamespace(scalar=lambda: answer)


def test_mysql_get_lock_waits_whole_seconds_then_times_out() -> None:
    from migrepo.db.lock_server import MySqlLock as _MySqlLock

    waits: list[str] = []
    name = lock_name("shop")
    lock = _MySqlLock(name, 1.5, waits.append)
    connection: Any = ScriptedConnection([0, 0])
    with pytest.raises(LockTimeout, match=r"GET_LOCK\('migrepo:[0-9a-f]{40}'\)\) after 1\.5 s"):
        lock.acquire(connection)
    assert [params for _, params in connection.asked] == [
        {"name": name, "timeout": 0},
        {"name": name, "timeout": 2},
    ]
    assert waits == [f"GET_LOCK('{name}')"]

    connection = ScriptedConnection([0, 1])
    _MySqlLock(name, None, waits.append).acquire(connection)
    assert connection.asked[-1][1] == {"name": name, "timeout": -1}
    assert lock_name("shop") != lock_name("other") and len(name) <= 64


# --- help ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["upgrade", "downgrade", "stamp", "sync"])
def test_lock_and_transaction_options_have_help(proj: Project, command: str) -> None:
    out = proj.ok(command, "--help").output
    assert "--lock-timeout SECONDS" in out
    assert ("--single-transaction" in out) is (command != "stamp")


def test_doctests() -> None:
    import doctest

    from migrepo.db import lock as _lock

    result = doctest.testmod(_lock)
    assert result.attempted and not result.failed


def test_mysql_get_lock_asks_for_at_most_a_year_at_a_time() -> None:
    """MariaDB answers NULL at once to GET_LOCK with a huge timeout (--lock-timeout 1e12)."""
    from migrepo.db.lock_server import _YEAR
    from migrepo.db.lock_server import MySqlLock as _MySqlLock

    name = lock_name("shop")
    connection: Any = ScriptedConnection([0, 0, 1])
    _MySqlLock(name, 1e12, lambda _: None).acquire(connection)
    assert [params["timeout"] for _, params in connection.asked] == [0, _YEAR, _YEAR]
