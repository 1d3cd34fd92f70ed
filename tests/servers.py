"""What the throwaway-server plugins share (tests/pg.py, tests/mysql.py)."""

from __future__ import annotations

import os
import uuid
from types import TracebackType
from typing import Self

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url


def server_url_from_env(variable: str, server: str, script: str) -> str:
    """The URL in ``variable``; without it the test skips, or fails under ``CI=true``."""
    url = os.environ.get(variable)
    if url:
        return url
    reason = f"{server} not available: set {variable} or run `make test` ({script})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{variable} is not set but CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


class DatabaseFactory:
    """Creates uniquely named databases on a server and drops them again.

    ``factory()`` returns the URL (same credentials as the server URL) of a new,
    empty database. ``drop_all()`` (run on leaving a ``with`` block) drops every
    one still alive; subclasses say how a database is dropped (:meth:`_drop`).
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
            self._drop(conn, name)
        self._names.remove(name)

    def _drop(self, conn: Connection, name: str) -> None:
        raise NotImplementedError

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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop_all()
