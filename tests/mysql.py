"""Pytest plugin: throwaway MariaDB (or MySQL) databases for tests.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = [..., "tests.mysql"]``.

The server comes from ``MIGREPO_TEST_MYSQL_URL`` (``scripts/with-mariadb.sh`` starts one
and exports it; ``make test`` does this for you). Its user needs the rights to create and
drop databases and to end other sessions. Fixtures:

* ``mysql_server_url`` (session): the server URL; skips the test when it is unset (fails
  under ``CI=true``).
* ``mysql_url``: URL of a fresh, empty database that is dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from tests.servers import DatabaseFactory, server_url_from_env

MYSQL_URL_ENV = "MIGREPO_TEST_MYSQL_URL"
UNKNOWN_THREAD = 1094  # the server's error number for KILL of a session that is gone


class MySqlDatabaseFactory(DatabaseFactory):
    """A :class:`DatabaseFactory` for MariaDB and MySQL. Dropping a database first
    ends any session left connected to it: ``DROP DATABASE`` would otherwise wait
    for the metadata locks an open transaction holds."""

    def _drop(self, conn: Connection, name: str) -> None:
        sessions = conn.scalars(
            text(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = :name AND id != CONNECTION_ID()"
            ),
            {"name": name},
        ).all()
        for session in sessions:
            try:
                conn.execute(text(f"KILL {int(session)}"))
            except DBAPIError as exc:  # unless it ended by itself meanwhile
                if exc.orig is None or exc.orig.args[:1] != (UNKNOWN_THREAD,):
                    raise
        conn.execute(text(f"DROP DATABASE {self._quote(name)}"))


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    """URL of the test MariaDB server (the ``migrepo`` database)."""
    return server_url_from_env(MYSQL_URL_ENV, "MariaDB", "scripts/with-mariadb.sh")


@pytest.fixture
def mysql_url(mysql_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database, dropped after the test."""
    with MySqlDatabaseFactory(mysql_server_url) as factory:
        yield factory()
