"""One migration run at a time: a database-level lock held for a whole command.

Deploys often start several app instances, and each runs ``flask db upgrade``.
:func:`migration_lock` makes them take turns. How it locks depends on the
database:

* PostgreSQL: a session-level advisory lock, ``pg_advisory_lock(k)``, where
  ``k`` is :func:`lock_key` of the version table and its schema. Advisory
  locks belong to one database, so runs on other databases never wait.
* MySQL and MariaDB: ``GET_LOCK(name, timeout)``, where ``name`` is
  :func:`lock_name` (locks there are server-wide, so it includes the database).
* SQLite: an exclusive ``flock`` on ``<database file>.migrepo-lock``, next to
  the database file. An in-memory database is private to its process, so it
  needs no lock.
* Any other database: the same ``flock`` on ``<migrations>/.migrepo/lock``.
  That only serialises runs that share the migrations directory on one machine.

Every lock is released when its holder ends, however it ends: the server
drops a dead session's advisory lock or ``GET_LOCK``, and the kernel drops a
dead process's ``flock``. The PostgreSQL and MySQL locks live on a dedicated
connection in autocommit mode, never on the one Alembic migrates on, so
they hold no transaction open (``CREATE INDEX CONCURRENTLY`` still works).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from migrepo.errors import DatabaseError, LockTimeout

log = logging.getLogger("migrepo")

LOCK_SUFFIX = ".migrepo-lock"

# How often a bounded wait asks again for a lock it could not get: starts short
# so that a lock freed soon is taken soon, and backs off to spare the server.
_FIRST_POLL, _LAST_POLL = 0.05, 0.5

# The longest GET_LOCK wait migrepo asks for in one go on MariaDB, in seconds.
_YEAR = 365 * 24 * 3600

OnWait = Callable[[str], None]


def announce_wait(description: str) -> None:
    """The default ``on_wait``: one line on stderr."""
    message = f"Waiting for another migration run to finish ({description})..."
    print(message, file=sys.stderr, flush=True)


def lock_key(version_table: str = "alembic_version", schema: str | None = None) -> int:
    """The PostgreSQL advisory lock key of a version table: a signed 64-bit int.

    The first eight bytes of the SHA-256 of ``<schema>.<table>`` ('' for no
    schema), so every process computes the same key.

    >>> lock_key()
    8477606023334929395
    >>> lock_key("alembic_version", "app") != lock_key()
    True
    """
    digest = hashlib.sha256(f"{schema or ''}.{version_table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_name(
    database: str | None, version_table: str = "alembic_version", schema: str | None = None
) -> str:
    """The MySQL/MariaDB ``GET_LOCK`` name: at most 64 characters, server-wide unique.

    >>> name = lock_name("shop")
    >>> name.startswith("migrepo:"), len(name) <= 64, name != lock_name("other")
    (True, True, True)
    """
    text = f"{database or ''}/{schema or ''}.{version_table}"
    return "migrepo:" + hashlib.sha256(text.encode()).hexdigest()[:40]


@contextmanager
def migration_lock(
    engine: sa.Engine,
    *,
    version_table: str = "alembic_version",
    schema: str | None = None,
    timeout: float | None = None,
    on_wait: OnWait = announce_wait,
    directory: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Hold the migration lock of ``engine``'s database for the ``with`` block.

    Yields a description of the lock. When another run holds it, ``on_wait``
    is called once with that description, then the wait goes on for at most
    ``timeout`` seconds (None: as long as it takes), after which
    :class:`~migrepo.errors.LockTimeout` is raised. ``directory`` is the
    migrations directory, for the lock file of databases with no lock of
    their own.
    """
    backend = engine.dialect.name
    if backend == "postgresql":
        key = lock_key(version_table, schema)
        lock: AbstractContextManager[str] = _ConnectionLock(
            engine, _PgLock(key, timeout, on_wait)
        )
    elif backend in ("mysql", "mariadb"):
        name = lock_name(engine.url.database, version_table, schema)
        lock = _ConnectionLock(engine, _MySqlLock(name, timeout, on_wait))
    elif backend == "sqlite":
        path = sqlite_lock_path(engine.url)
        if path is None:
            yield "no lock: in-memory database"
            return
        lock = _FileLock(path, timeout, on_wait, fallback=_directory_lock_path(directory))
    else:
        path = _directory_lock_path(directory)
        if path is None:
            raise DatabaseError(
                f"no migration lock for {backend}: pass the migrations directory for a lock file"
            )
        lock = _FileLock(path, timeout, on_wait)
    with lock as description:
        yield description


# --- PostgreSQL and MySQL: a lock on a dedicated connection -----------------------


class _PgLock:
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
        _poll(
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


class _MySqlLock:
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
            return self._get(connection, math.ceil(self.timeout))
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


class _ConnectionLock:
    """Holds a server-side lock on a connection of its own for a ``with`` block.

    The connection comes from a private copy of the engine's pool (same
    connect arguments), so it never takes a slot of the app's pool nor is
    it ever handed to Alembic, and disposing of the copy really closes it:
    the session ends, and with it the lock, even if the unlock failed.
    Under an async driver the connection lives in a thread with its own
    event loop, which the migration's loop never sees.
    """

    def __init__(self, engine: sa.Engine, lock: _PgLock | _MySqlLock) -> None:
        self.engine = engine
        self.lock = lock
        self._stack = ExitStack()
        self._holder: _AsyncHolder | None = None

    def __enter__(self) -> str:
        if self.engine.dialect.is_async:
            self._holder = _AsyncHolder(self.held)
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


class _AsyncHolder:
    """Holds a :class:`_ConnectionLock` for an async driver in a thread of its own."""

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


# --- SQLite and the fallback: a lock file ----------------------------------------


def sqlite_lock_path(url: sa.URL) -> Path | None:
    """``<database file>.migrepo-lock`` for a SQLite URL; None for an in-memory one."""
    database = url.database
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true); SQLAlchemy keeps its query
        path, _, query = database[len("file:"):].partition("?")
        memory = url.query.get("mode") == "memory" or "mode=memory" in query
        if memory or not path or path == ":memory:":
            return None
        database = path
    return Path(database).absolute().with_name(Path(database).name + LOCK_SUFFIX)


def _directory_lock_path(directory: str | os.PathLike[str] | None) -> Path | None:
    return Path(directory) / ".migrepo" / "lock" if directory is not None else None


class _FileLock:
    """An exclusive ``flock`` on a file, which the kernel drops when the process ends.

    The holder deletes the file as it leaves, so that no lock file stays
    next to the database (in a git work tree, say). A waiter that then gets
    the lock of the deleted file finds the path gone or naming a new file,
    and starts over: only a lock on the file the path names counts.
    """

    def __init__(
        self,
        path: Path,
        timeout: float | None,
        on_wait: OnWait,
        fallback: Path | None = None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.on_wait = on_wait
        self.fallback = fallback
        self._fd: int | None = None

    def __enter__(self) -> str:
        try:
            import fcntl
        except ImportError:  # Windows: no flock
            log.warning(
                "no file locks on this platform: concurrent migration runs are not serialised"
            )
            return "no lock: no flock on this platform"
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        announced = False
        while True:
            fd = self._open()
            description = f"lock file {self.path}"
            try:
                if not _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):
                    if not announced:
                        self.on_wait(description)
                        announced = True
                    if deadline is None:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                    else:
                        _poll(
                            lambda: _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),  # noqa: B023
                            deadline,
                            self.timeout,
                            description,
                        )
                if _names(self.path, fd):
                    self._fd = fd
                    return description
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the previous holder deleted this file as it left: start over

    def _open(self) -> int:
        try:
            return _open_lock_file(self.path)
        except OSError as exc:
            if self.fallback is None or self.path == self.fallback:
                raise DatabaseError(f"cannot create the lock file {self.path}: {exc}") from exc
            log.warning(
                "cannot create the lock file %s (%s); locking %s instead",
                self.path,
                exc,
                self.fallback,
            )
            self.path = self.fallback
            return _open_lock_file(self.path)

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            with suppress(OSError):
                self.path.unlink()  # still holding the lock, so no one else has it yet
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _open_lock_file(path: Path) -> int:
    if path.name == "lock" and path.parent.name == ".migrepo":
        from migrepo.store.objects import ObjectCache

        ObjectCache(path.parent.parent).ensure()  # the folder that ignores itself in git
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _flock(fd: int, operation: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        return False
    return True


def _poll(
    attempt: Callable[[], bool], deadline: float, timeout: float | None, description: str
) -> None:
    """Call ``attempt`` until it returns True or the ``deadline`` (``time.monotonic()``) passes."""
    delay = _FIRST_POLL
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(description, timeout)
        time.sleep(min(delay, remaining))
        if attempt():
            return
        delay = min(delay * 2, _LAST_POLL)
