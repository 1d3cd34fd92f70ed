"""Pytest plugin: throwaway PostgreSQL databases for tests.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = ["tests.pg"]``.

The server comes from ``MIGREPO_TEST_PG_URL`` (``scripts/with-postgres.sh`` starts one and
exports it; ``make test`` does this for you). Fixtures:

* ``pg_server_url`` (session): the server URL; skips the test when it is unset (fails
  under ``CI=true``).
* ``pg_url``: URL of a fresh, empty database that is dropped after the test.
* ``pg_url_factory``: a :class:`PgDatabaseFactory`; call it to create as many fresh
  databases as needed, all dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL

from tests.servers import DatabaseFactory, server_url_from_env

PG_URL_ENV = "MIGREPO_TEST_PG_URL"


def database_names(server_url: str | URL) -> set[str]:
    """Names of all databases on the server (opens and disposes its own engine)."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT datname FROM pg_database")))
    finally:
        engine.dispose()


class PgDatabaseFactory(DatabaseFactory):
    """A :class:`DatabaseFactory` for PostgreSQL: databases are owned by the server
    URL's user, and dropping one ends any connection still open to it."""

    def _drop(self, conn: Connection, name: str) -> None:
        conn.execute(text(f"DROP DATABASE IF EXISTS {self._quote(name)} WITH (FORCE)"))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the test PostgreSQL server (the ``migrepo`` maintenance database)."""
    return server_url_from_env(PG_URL_ENV, "PostgreSQL", "scripts/with-postgres.sh")


@pytest.fixture
def pg_url_factory(pg_server_url: str) -> Iterator[PgDatabaseFactory]:
    """Callable creating fresh databases; every one is dropped after the test."""
    with PgDatabaseFactory(pg_server_url) as factory:
        yield factory


@pytest.fixture
def pg_url(pg_url_factory: PgDatabaseFactory) -> str:
    """URL of a fresh, empty database, dropped after the test."""
    return pg_url_factory()
