"""Async drivers (the aioflask templates): every database access of migrepo's own works."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrepo.db.ledger import read_rows
from tests.apps import Project, project

FAILING = '''"""boom"""
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


def _async(url: str) -> str:
    return url.replace("sqlite://", "sqlite+aiosqlite://").replace(
        "postgresql+psycopg://", "postgresql+psycopg_async://"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def aio_proj(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A git work tree with an aioflask project on an async driver, upgraded to r1."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with project(tmp_path, _async(url)) as proj:
        proj.ok("init", "-t", "aioflask")
        proj.ok("migrate", "-m", "users", "--rev-id", "r1")
        proj.ok("upgrade")
        yield proj


def test_log_reads_the_ledger(aio_proj: Project) -> None:
    result = aio_proj.ok("log")
    assert result.output.startswith("upgrade r1 (ok)\n")
    rows = json.loads(aio_proj.ok("log", "--format", "json").output)
    assert [(row["revision"], row["direction"]) for row in rows] == [("r1", "upgrade")]


def test_verify_reads_the_ledger(aio_proj: Project) -> None:
    (aio_proj.migrations / "versions" / "r1_users.py").write_text("# edited\n", "utf-8")
    result = aio_proj.run("verify")
    assert "could not read the ledger" not in result.output
    assert "greenlet" not in result.output


@pytest.mark.parametrize("command", ["upgrade", "downgrade", "current"])
def test_a_database_ahead_is_explained(aio_proj: Project, command: str) -> None:
    (aio_proj.migrations / "versions" / "r1_users.py").unlink()
    result = aio_proj.run(command)
    assert result.exit_code == 1
    assert "greenlet" not in result.output
    assert "the database is at revision r1, which this work tree does not have" in result.output


def test_sync_after_a_branch_switch(aio_proj: Project) -> None:
    (aio_proj.migrations / "versions" / "r1_users.py").unlink()
    result = aio_proj.ok("sync")
    assert "Did downgrade r1 (content" in result.output
    assert "user" not in aio_proj.tables(aio_proj.url.replace("+aiosqlite", "").replace(
        "+psycopg_async", "+psycopg"
    ))


def test_a_failing_revision_gets_its_ledger_row(aio_proj: Project) -> None:
    (aio_proj.migrations / "versions" / "r2_boom.py").write_text(FAILING, "utf-8")
    assert aio_proj.run("upgrade").exit_code == 1
    rows = json.loads(aio_proj.ok("log", "--format", "json").output)
    assert [(row["revision"], row["outcome"]) for row in rows] == [
        ("r2", "failed"),
        ("r1", "ok"),
    ]


def test_read_rows_inside_a_running_event_loop(aio_proj: Project) -> None:
    """An async app may call the API from a coroutine: the read still works."""
    engine = sa.create_engine(aio_proj.url)

    async def from_a_coroutine() -> list[dict[str, object]]:
        return read_rows(engine, "migrepo_ledger", None, limit=None, revision=None)

    try:
        rows = asyncio.run(from_a_coroutine())
        assert [row["revision"] for row in rows] == ["r1"]
        from sqlalchemy.ext.asyncio import AsyncEngine

        rows = read_rows(AsyncEngine(engine), "migrepo_ledger", None, limit=1, revision="r1")
        assert [row["revision"] for row in rows] == ["r1"]
    finally:
        engine.dispose()


def test_multidb_log_reads_every_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'main.db'}"
    binds = {"users": f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"}
    with project(tmp_path, url, binds=binds) as proj:
        proj.ok("init", "-t", "aioflask-multidb")
        proj.ok("migrate", "--rev-id", "r1")
        proj.ok("upgrade")
        rows = json.loads(proj.ok("log", "--format", "json").output)
        assert sorted((row["database"], row["revision"]) for row in rows) == [
            ("", "r1"),
            ("users", "r1"),
        ]
        (proj.migrations / "versions" / "r1_.py").unlink()
        result = proj.run("current")
        assert "the database is at revision r1, which this work tree does not have" in (
            result.output
        )
