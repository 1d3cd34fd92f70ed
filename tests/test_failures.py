"""Failures part-way: one transaction per revision, the error line, SIGKILL mid-revision."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from migrepo.db.lock import lock_key
from tests.apps import project
from tests.test_locking import (
    add_chain,
    add_revision,
    child_env,
    flask_db,
    ledger_steps,
    processes,
    query,
    read_until,
)

pytestmark = pytest.mark.postgres

FAILING_UPGRADE = """\
op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))
op.execute("SELECT * FROM no_such_table")
"""

# An env.py written for Flask-Migrate, not by migrepo: it takes the engine and the
# keyword arguments from current_app.extensions['migrate'] and hands
# `configure_args` to context.configure() itself, as such files do.
FLASK_MIGRATE_ENV = '''\
from flask import current_app
from alembic import context

state = current_app.extensions["migrate"]
engine = state.db.engine
metadata = state.db.metadatas[None]


def skip_empty_autogenerate(ctx, revision, directives):
    if getattr(context.config.cmd_opts, "autogenerate", False):
        if directives[0].upgrade_ops.is_empty():
            directives[:] = []


options = dict(state.configure_args)
options.setdefault("process_revision_directives", skip_empty_autogenerate)

if context.is_offline_mode():
    context.configure(url=engine.url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, **options)
        with context.begin_transaction():
            context.run_migrations()
'''


def tables(url: str) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows}


def versions(url: str) -> set[str]:
    if "alembic_version" not in tables(url):
        return set()
    return {row[0] for row in query(url, "SELECT version_num FROM alembic_version")}


def failing_project(migrations: Path) -> Path:
    """r1 and r2 that work, and r3 that creates t3 then fails; returns r3's file."""
    add_chain(migrations, 2)
    return add_revision(migrations, "r3", "r2", FAILING_UPGRADE, name="boom")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- a failing revision ---------------------------------------------------------------


def test_a_failing_revision_leaves_the_last_good_one(
    tmp_path: Path, pg_url: str, flask_app_file: Callable[..., Path]
) -> None:
    flask_app_file(pg_url)
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
    failing = failing_project(tmp_path / "migrations")

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'Error: revision r3 failed: database error: relation "no_such_table" does not exist '
        f"(at migrations/versions/r3_boom.py:{line_of(failing, 'no_such_table')})"
    )
    assert versions(pg_url) == {"r2"}
    assert tables(pg_url) == {"alembic_version", "migrepo_ledger", "runs", "t1", "t2"}
    assert ledger_steps(pg_url) == [
        ("r1", "upgrade", "ok"),
        ("r2", "upgrade", "ok"),
        ("r3", "upgrade", "failed"),
    ]

    # Resume: fix the revision, upgrade again; r1 and r2 are not run twice.
    add_revision(tmp_path / "migrations", "r3", "r2", 'op.create_table("t3")', name="boom")
    resumed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert versions(pg_url) == {"r3"}
    assert sorted(query(pg_url, "SELECT rev FROM runs")) == [("r1",), ("r2",)]
    assert ledger_steps(pg_url)[-1] == ("r3", "upgrade", "ok")


def test_a_failing_first_run_leaves_no_version_table(tmp_path: Path, pg_url: str) -> None:
    """As with Flask-Migrate, nothing of Alembic's is left; the ledger keeps the failure."""
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        add_revision(proj.migrations, "r1", None, FAILING_UPGRADE, name="boom")
        assert proj.run("upgrade").exit_code == 1
    assert tables(pg_url) == {"migrepo_ledger"}
    assert ledger_steps(pg_url) == [("r1", "upgrade", "failed")]


@pytest.mark.parametrize("how", ["option", "config", "migrate"])
def test_single_transaction_keeps_the_start_revision(
    tmp_path: Path, pg_url: str, how: str
) -> None:
    settings: dict[str, Any] = {
        "config": {"config": {"MIGREPO_SINGLE_TRANSACTION": True}},
        "migrate": {"migrate_kwargs": {"transaction_per_migration": False}},
    }.get(how, {})
    with project(tmp_path, pg_url, **settings) as proj:
        proj.ok("init")
        failing_project(proj.migrations)
        proj.ok("upgrade", "r1")

        args = ["upgrade", "--single-transaction"] if how == "option" else ["upgrade"]
        result = proj.run(*args)
        assert result.exit_code == 1
        assert "revision r3 failed" in result.output
        assert proj.version() == {"r1"}
        assert tables(pg_url) == {"alembic_version", "migrepo_ledger", "runs", "t1"}
        assert query(pg_url, "SELECT rev FROM runs") == [("r1",)]
        assert ledger_steps(pg_url) == [("r1", "upgrade", "ok"), ("r3", "upgrade", "failed")]


def test_config_can_turn_single_transaction_off_again(tmp_path: Path, pg_url: str) -> None:
    with project(
        tmp_path,
        pg_url,
        migrate_kwargs={"transaction_per_migration": False},
        config={"MIGREPO_SINGLE_TRANSACTION": "false"},
    ) as proj:
        proj.ok("init")
        failing_project(proj.migrations)
        app = proj.app()
        assert proj.run("upgrade", app=app).exit_code == 1
        assert proj.version() == {"r2"}
        # The keyword is the user's again once the command is over.
        assert app.extensions["migrate"].configure_args["transaction_per_migration"] is False


# Flask-Migrate's env.py calls db.get_engine() first, which Flask-SQLAlchemy 3.1 deprecates.
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_flask_migrate_env_py_gets_a_transaction_per_revision(
    tmp_path: Path, pg_url: str
) -> None:
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        (proj.migrations / "env.py").write_text(FLASK_MIGRATE_ENV)
        failing_project(proj.migrations)
        app = proj.app()
        result = proj.run("upgrade", app=app)
        assert result.exit_code == 1
        assert "revision r3 failed" in result.output
        assert proj.version() == {"r2"}
        assert "t3" not in tables(pg_url)
        assert "transaction_per_migration" not in app.extensions["migrate"].configure_args

        proj.ok("downgrade", app=app)
        result = proj.run("upgrade", "--single-transaction", app=app)
        assert result.exit_code == 1
        assert proj.version() == {"r1"}
        assert "t2" not in tables(pg_url)


def test_a_failing_downgrade_stops_at_the_last_good_revision(
    tmp_path: Path, pg_url: str
) -> None:
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 3)
        add_revision(
            proj.migrations,
            "r2",
            "r1",
            'op.create_table("t2")',
            'op.execute("DROP TABLE no_such_table")',
        )
        proj.ok("upgrade")
        result = proj.run("downgrade", "base")
        assert result.exit_code == 1
        assert "revision r2 failed" in result.output
        assert "no_such_table" in result.output
        assert proj.version() == {"r2"}
        assert "t3" not in tables(pg_url)
        assert ledger_steps(pg_url)[-2:] == [
            ("r3", "downgrade", "ok"),
            ("r2", "downgrade", "failed"),
        ]


# --- SIGKILL while a revision runs -----------------------------------------------------

BLOCKING_UPGRADE = """\
op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))
print("r3: waiting for advisory lock 42", flush=True)
op.execute("SELECT pg_advisory_xact_lock(42)")
"""


def test_sigkill_mid_revision_leaves_the_last_good_one_and_a_free_lock(
    tmp_path: Path, pg_url: str, flask_app_file: Callable[..., Path]
) -> None:
    flask_app_file(pg_url)
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
    add_chain(tmp_path / "migrations", 2)
    add_revision(tmp_path / "migrations", "r3", "r2", BLOCKING_UPGRADE, name="blocking")

    holder = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with holder.connect() as connection, processes() as procs:
            run = connection.exec_driver_sql
            run("SELECT pg_advisory_lock(42)")  # r3 blocks on it, mid-transaction
            procs.append(flask_db(tmp_path, "upgrade"))
            read_until(procs[0].stdout, "r3: waiting for advisory lock 42")
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].communicate(timeout=60)
            assert procs[0].returncode == -signal.SIGKILL

            # The killed run's session that was migrating is still waiting for lock 42.
            # Let it have the lock; it then finds its client gone and rolls back. Asking
            # for lock 42 again waits (in the database, at most 30 s) until it did.
            run("SET lock_timeout = '30s'")
            run("SELECT pg_advisory_unlock(42)")
            run("SELECT pg_advisory_lock(42)")
            run("SELECT pg_advisory_unlock(42)")
            # The migration lock died with the killed run's other session.
            run(f"SELECT pg_advisory_lock({lock_key()})")
            run(f"SELECT pg_advisory_unlock({lock_key()})")
            advisory = run("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            assert advisory.scalar() == 0
    finally:
        holder.dispose()

    assert versions(pg_url) == {"r2"}
    assert tables(pg_url) == {"alembic_version", "migrepo_ledger", "runs", "t1", "t2"}
    assert ledger_steps(pg_url) == [("r1", "upgrade", "ok"), ("r2", "upgrade", "ok")]

    with processes() as procs:
        procs.append(flask_db(tmp_path, "upgrade", "--lock-timeout", "30"))
        out, err = procs[0].communicate(timeout=120)
    assert procs[0].returncode == 0, err
    assert "r3: waiting for advisory lock 42" in out
    assert versions(pg_url) == {"r3"}
    assert "t3" in tables(pg_url)
    assert ledger_steps(pg_url)[-1] == ("r3", "upgrade", "ok")
