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

import os
import uuid
from collections.abc import Iterator
from types import TracebackType

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

PG_URL_ENV = "MIGREPO_TEST_PG_URL"
SKIP_REASON = "PostgreSQL not available: set MIGREPO_TEST_PG_URL or run `make test`"


def database_names(server_url: str | URL) -> set[str]:
    """Names of all databases on the server (opens and disposes its own engine)."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT datname FROM pg_database")))
    finally:
        engine.dispose()


class PgDatabaseFactory:
    """Creates uniquely named databases on a server and drops them again.

    ``factory()`` returns the URL (same credentials as the server URL) of a new, empty
    database owned by the server URL's user. ``drop_all()`` (run by the fixtures at
    teardown, or on leaving a ``with`` block) drops every database still alive,
    terminating any connections left open to them.
    """

    def __init__(self, server_url: str | URL, prefix: str = "t") -> None:
        self.server_url = make_url(server_url)
        self.prefix = prefix
        self._engine: Engine | None = None
        self._names: list[str] = []

    @property
    def names(self) -> list[str]:
        """Names of the databases created and not dropped yet, oldest first."""
        return list(self._names)

    def _admin(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                self.server_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0
            )
        return self._engine

    def _quote(self, name: str) -> str:
        return self._admin().dialect.identifier_preparer.quote_identifier(name)

    def url_for(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def __call__(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin().connect() as conn:
            conn.execute(text(f"CREATE DATABASE {self._quote(name)}"))
        self._names.append(name)
        return self.url_for(name)

    def drop(self, url_or_name: str | URL) -> None:
        """Drop one database created by this factory (by URL or name)."""
        if isinstance(url_or_name, URL) or "://" in url_or_name:
            name = make_url(url_or_name).database
        else:
            name = url_or_name
        if name is None or name not in self._names:
            raise ValueError(f"database {name!r} was not created by this factory")
        with self._admin().connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {self._quote(name)} WITH (FORCE)"))
        self._names.remove(name)

    def drop_all(self) -> None:
        """Drop all remaining databases, then dispose of the admin engine."""
        errors: list[Exception] = []
        try:
            for name in reversed(self.names):
                try:
                    self.drop(name)
                except Exception as exc:
                    errors.append(exc)
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
        if errors:
            raise errors[0]

    def __enter__(self) -> PgDatabaseFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop_all()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the test PostgreSQL server (the ``migrepo`` maintenance database)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_URL_ENV} is not set but CI=true: {SKIP_REASON}", pytrace=False)
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture
def pg_url_factory(pg_server_url: str) -> Iterator[PgDatabaseFactory]:
    """Callable creating fresh databases; every one is dropped after the test."""
    with PgDatabaseFactory(pg_server_url) as factory:
        yield factory


@pytest.fixture
def pg_url(pg_url_factory: PgDatabaseFactory) -> str:
    """URL of a fresh, empty database, dropped after the test."""
    return pg_url_factory()
