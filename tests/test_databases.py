"""The commands against real databases: SQLite and PostgreSQL, single and multi, sync and async."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.apps import Project, project


def _rev(path: Path) -> str:
    return path.name.split("_")[0]


def test_upgrade_downgrade_stamp_current_check(any_proj: Project) -> None:
    any_proj.ok("init")
    any_proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
    email = any_proj.app(email=True)
    assert any_proj.run("check", app=email).exit_code == 1  # nothing applied yet
    any_proj.ok("upgrade")
    any_proj.ok("migrate", "-m", "add email", "--rev-id", "r2", app=email)

    result = any_proj.run("check", app=email)
    assert result.exit_code == 1
    assert "Target database is not up to date" in result.output

    any_proj.ok("upgrade", app=email)
    assert any_proj.version() == {"r2"}
    assert "r2 (head)" in any_proj.ok("current", app=email).output
    assert "No new upgrade operations detected" in any_proj.ok("check", app=email).output

    any_proj.ok("downgrade", app=email)
    assert any_proj.version() == {"r1"}
    any_proj.ok("downgrade", "base", app=email)
    assert any_proj.version() == set()
    assert "user" not in any_proj.tables()

    any_proj.ok("stamp", "r2", app=email)
    assert any_proj.version() == {"r2"}
    assert "user" not in any_proj.tables()  # stamp runs no migration
    any_proj.ok("stamp", "--purge", "r1", app=email)
    assert any_proj.version() == {"r1"}


def test_offline_sql_for_postgres_uses_literal_binds(tmp_path: Path, pg_url: str) -> None:
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        proj.ok("migrate", "--rev-id", "r1")
        out = proj.ok("upgrade", "--sql").output
        assert "CREATE TABLE alembic_version" in out
        assert "INSERT INTO alembic_version (version_num) VALUES ('r1')" in out
        assert "user" not in proj.tables()  # --sql printed, ran nothing


@pytest.fixture
def two_sqlite(tmp_path: Path) -> tuple[str, dict[str, str]]:
    return f"sqlite:///{tmp_path / 'main.db'}", {"users": f"sqlite:///{tmp_path / 'users.db'}"}


@pytest.fixture
def pg_and_sqlite(tmp_path: Path, pg_url: str) -> tuple[str, dict[str, str]]:
    return pg_url, {"users": f"sqlite:///{tmp_path / 'users.db'}"}


@pytest.mark.parametrize(
    "databases",
    ["two_sqlite", pytest.param("pg_and_sqlite", marks=pytest.mark.postgres)],
)
@pytest.mark.parametrize("template", ["flask-multidb", "aioflask-multidb"])
def test_multidb(
    tmp_path: Path, request: pytest.FixtureRequest, databases: str, template: str
) -> None:
    url, binds = request.getfixturevalue(databases)
    if template.startswith("aio"):
        url, binds = _async(url), {k: _async(v) for k, v in binds.items()}
    with project(tmp_path, url, binds=binds) as proj:
        proj.ok("init", "-t", template)
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        text = (proj.migrations / "versions" / "r1_one.py").read_text()
        assert "def upgrade_users():" in text and "def upgrade_():" in text
        assert "op.create_table('item_users'" in text

        proj.ok("upgrade")
        sync_url, sync_users = _sync(url), _sync(binds["users"])
        assert {"user", "alembic_version"} <= proj.tables(sync_url)
        assert proj.tables(sync_users) == {"item_users", "alembic_version"}
        assert proj.version(sync_users) == {"r1"}

        result = proj.ok("migrate", "-m", "nothing")
        assert "No changes in schema detected." in result.output
        assert len(proj.revision_files()) == 1

        proj.ok("downgrade", "base")
        assert proj.tables(sync_users) == {"alembic_version"}
        assert proj.version(sync_url) == set()


def test_multidb_offline_writes_one_script_per_database(
    tmp_path: Path, two_sqlite: tuple[str, dict[str, str]], flask_app_file: Callable[..., Path]
) -> None:
    url, binds = two_sqlite
    app_file = flask_app_file(url, binds)
    flask = [sys.executable, "-m", "flask", "--app", str(app_file), "db"]
    run = subprocess.run
    run([*flask, "init", "--multidb"], cwd=tmp_path, check=True, capture_output=True)
    run([*flask, "migrate", "--rev-id", "r1"], cwd=tmp_path, check=True, capture_output=True)
    run([*flask, "upgrade", "--sql"], cwd=tmp_path, check=True, capture_output=True)
    assert "CREATE TABLE item_users" in (tmp_path / "users.sql").read_text()
    assert "CREATE TABLE user" in (tmp_path / ".sql").read_text()


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_aioflask(tmp_path: Path, request: pytest.FixtureRequest, database: str) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with project(tmp_path, _async(url)) as proj:
        proj.ok("init", "-t", "aioflask")
        assert "asynchronous=True" in (proj.migrations / "env.py").read_text()
        proj.ok("migrate", "--rev-id", "r1")
        proj.ok("upgrade")
        assert proj.version(url) == {"r1"}
        assert "r1 (head)" in proj.ok("current").output
        assert "No new upgrade operations detected" in proj.ok("check").output
        proj.ok("downgrade")
        assert proj.version(url) == set()


def _async(url: str) -> str:
    return url.replace("sqlite://", "sqlite+aiosqlite://").replace(
        "postgresql+psycopg://", "postgresql+psycopg_async://"
    )


def _sync(url: str) -> str:
    return url.replace("sqlite+aiosqlite://", "sqlite://").replace(
        "postgresql+psycopg_async://", "postgresql+psycopg://"
    )
