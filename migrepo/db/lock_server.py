"""Server-side migration locks: PostgreSQL advisory locks and MySQL/MariaDB ``GET_LOCK``.

Each lives on a connection of its own in autocommit mode (see
:class:`ConnectionLock`), never on the one Alembic migrates on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa

from migrepo.db.lock_wait import OnWait, poll
from migrepo.errors import DatabaseError, LockTimeout

log = logging.getLogger("migrepo")

# The longest GET_LOCK wait migrepo asks for in one go on MariaDB, in seconds:
# MariaDB answers NULL at once for a negative or an out-of-range timeout.
_YEAR = 365 * 24 * 3600


class PgLock:
    def __init__(self, key: int, timeout: float | None, on_wait: OnWait) -> None:
        self.key = key
        self.timeout = timeout
        self.on_wait = on_wait
        self.description = f"PostgreSQL advisory lock {key}"

    def acquire(self, connection: sa.Connection) -> None:
        # The lock connection sits idle for the whole run: keep the server's
        # timeouts from ending its session (and so the lock) or its wait.
        connection.exec_driver_sql("SET statement_timeout = 0")
        connection.exec_driver_sql("SET lock_timeout = 0")
        if (connection.dialect.server_version_info or (0,)) >= (14,):
            connection.exec_driver_sql("SET idle_session_timeout = 0")
        # The key is our own integer: a literal works with every driver.
        if self._try(connection):
            return
        self.on_wait(self.description)
        if self.timeout is None:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({self.key})")
            return
        poll(
            lambda: self._try(connection),
            time.monotonic() + self.timeout,
            self.timeout,
            self.description,
        )

    def _try(self, connection: sa.Connection) -> bool:
        return bool(connection.exec_driver_sql(
            f"SELECT pg_try_advisory_lock({self.key})"
        ).scalar())

    def release(self, connection: sa.Connection) -> None:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({self.key})")


class MySqlLock:
    def __init__(self, name: str, timeout: float | None, on_wait: OnWait) -> None:
        self.name = name
        self.timeout = timeout
        self.on_wait = on_wait
        self.description = f"GET_LOCK('{name}')"

    def acquire(self, connection: sa.Connection) -> None:
        got = self._get(connection, 0)
        if got == 1:
            return
        if got is not None:
            self.on_wait(self.description)
            got = self._wait(connection)
        if got == 0:
            raise LockTimeout(self.description, self.timeout)
        if got != 1:
            raise DatabaseError(f"{self.description} failed: the server returned {got!r}")

    def _wait(self, connection: sa.Connection) -> Any:
        if self.timeout is not None:  # GET_LOCK waits whole seconds on MySQL
            # At most a year per GET_LOCK (a longer one fails at once on MariaDB),
            # asked again until the whole timeout has passed.
            deadline = time.monotonic() + self.timeout
            asked = min(math.ceil(self.timeout), _YEAR)
            got = self._get(connection, asked)
            while got == 0 and asked == _YEAR and (left := deadline - time.monotonic()) > 0:
                asked = min(math.ceil(left), _YEAR)
                got = self._get(connection, asked)
            return got
        # A negative timeout waits for ever on MySQL. MariaDB returns NULL for it
        # at once, so there we wait a year at a time, for as long as it takes.
        got = self._get(connection, -1)
        if got is None:
            got = self._get(connection, _YEAR)
            while got == 0:
                got = self._get(connection, _YEAR)
        return got

    def _get(self, connection: sa.Connection, timeout: int) -> Any:
        return connection.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": self.name, "timeout": timeout}
        ).scalar()

    def release(self, connection: sa.Connection) -> None:
        connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})


class ConnectionLock:
    """Holds a server-side lock on a connection of its own for a ``with`` block.

    The connection comes from a private copy of the engine's pool (same
    connect arguments), so it never takes a slot of the app's pool nor is
    it ever handed to Alembic, and disposing of the copy really closes it:
    the session ends, and with it the lock, even if the unlock failed.
    Under an async driver the connection lives in a thread with its own
    event loop, which the migration's loop never sees.
    """

    def __init__(self, engine: sa.Engine, lock: PgLock | MySqlLock) -> None:
        self.engine = engine
        self.lock = lock
        self._stack = ExitStack()
        self._holder: AsyncHolder | None = None

    def __enter__(self) -> str:
        if self.engine.dialect.is_async:
            self._holder = AsyncHolder(self.held)
            self._holder.start()
        else:
            self._stack.enter_context(self.held())
        return self.lock.description

    def __exit__(self, *exc_info: object) -> None:
        if self._holder is not None:
            self._holder.stop()
        self._stack.close()

    @contextmanager
    def held(self) -> Iterator[None]:
        engine = sa.create_engine(
            self.engine.url, pool=self.engine.pool.recreate(), isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as connection:
                self.lock.acquire(connection)
                try:
                    yield
                finally:
                    try:
                        self.lock.release(connection)
                    except Exception as exc:  # disposing below ends the session all the same
                        log.warning("could not release %s: %s", self.lock.description, exc)
        finally:
            engine.dispose()


class AsyncHolder:
    """Holds a :class:`ConnectionLock` for an async driver in a thread of its own."""

    def __init__(self, held: Callable[[], AbstractContextManager[None]]) -> None:
        self.held = held
        self._acquired = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        # A daemon: a run interrupted while it waits must not hang on this thread.
        self._thread = threading.Thread(target=self._run, name="migrepo-lock", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._acquired.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        import asyncio

        from sqlalchemy.util import greenlet_spawn

        try:
            asyncio.run(greenlet_spawn(self._hold))
        except BaseException as exc:
            if not self._acquired.is_set():
                self._error = exc
            self._acquired.set()

    def _hold(self) -> None:
        # Sync-style SQLAlchemy calls on an async driver work inside greenlet_spawn.
        with self.held():
            self._acquired.set()
            self._done.wait()
