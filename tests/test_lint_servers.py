"""``flask db lint`` and ``flask db sql`` on real PostgreSQL and MariaDB databases: the
default selection reads the version table and nothing else, and the app's own dialect
decides which rules apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.apps import project
from tests.lint_helpers import USER_TABLE, write_ops

PLAIN_INDEX = 'op.create_index("ix_name", "account", ["name"])'


@pytest.fixture(
    params=[
        pytest.param("pg_url", marks=pytest.mark.postgres),
        pytest.param("mysql_url", marks=pytest.mark.mariadb),
    ]
)
def server_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


def test_pending_on_a_server(tmp_path: Path, server_url: str) -> None:
    with project(tmp_path, server_url) as proj:
        proj.ok("init")
        write_ops(proj, "r1", None, USER_TABLE)
        write_ops(proj, "r2", "r1", PLAIN_INDEX)
        proj.ok("upgrade", "r1")
        before = proj.tables(ledger=True)
        engine = sa.create_engine(server_url)
        try:
            with engine.connect() as conn:
                rows_before = conn.scalar(sa.text("SELECT count(*) FROM migrepo_ledger"))
        finally:
            engine.dispose()

        result = proj.run("lint", "--format", "json")
        found = json.loads(result.stdout)
        assert found["revisions"] == ["r2"]
        postgres = server_url.startswith("postgresql")
        assert found["dialect"] == ("postgresql" if postgres else "mysql")
        rules = {f["rule"] for f in found["findings"]}
        # A plain CREATE INDEX blocks writes on PostgreSQL; InnoDB builds it online.
        assert ("index-not-concurrent" in rules) is postgres
        assert result.exit_code == (1 if postgres else 0)

        shown = proj.ok("sql", "r2").stdout
        assert "CREATE INDEX ix_name ON account (name);" in shown

        assert proj.version() == {"r1"}
        assert proj.tables(ledger=True) == before
        engine = sa.create_engine(server_url)
        try:
            with engine.connect() as conn:
                assert conn.scalar(sa.text("SELECT count(*) FROM migrepo_ledger")) == rows_before
        finally:
            engine.dispose()
