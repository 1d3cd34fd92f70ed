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

import os
import uuid
from collections.abc import Iterator
from types import TracebackType

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

MYSQL_URL_ENV = "MIGREPO_TEST_MYSQL_URL"
SKIP_REASON = "MariaDB not available: set MIGREPO_TEST_MYSQL_URL or run `make test`"
UNKNOWN_THREAD = 1094  # the server's error number for KILL of a session that is gone


class MySqlDatabaseFactory:
    """Creates uniquely named databases on a server and drops them again.

    ``factory()`` returns the URL (same credentials as the server URL) of a new, empty
    database. ``drop_all()`` (on leaving a ``with`` block) drops every one still alive,
    first ending any session left connected to it: ``DROP DATABASE`` would otherwise
    wait for the metadata locks an open transaction holds.
    """

    def __init__(self, server_url: str | URL, prefix: str = "t") -> None:
        self.server_url = make_url(server_url)
        self.prefix = prefix
        self._engine: Engine | None = None
        self._names: list[str] = []

    def _admin(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                self.server_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0
            )
        return self._engine

    def _quote(self, name: str) -> str:
        return self._admin().dialect.identifier_preparer.quote_identifier(name)

    def __call__(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin().connect() as conn:
            conn.execute(text(f"CREATE DATABASE {self._quote(name)}"))
        self._names.append(name)
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        try:
            with self._admin().connect() as conn:
                for name in reversed(self._names):
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
                    self._names.remove(name)
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> MySqlDatabaseFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop_all()


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    """URL of the test MariaDB server (the ``migrepo`` database)."""
    url = os.environ.get(MYSQL_URL_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{MYSQL_URL_ENV} is not set but CI=true: {SKIP_REASON}", pytrace=False)
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture
def mysql_url(mysql_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database, dropped after the test."""
    with MySqlDatabaseFactory(mysql_server_url) as factory:
        yield factory()
