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
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa

from migrepo.db.lock_file import (
    LOCK_SUFFIX,
    FileLock,
    directory_lock_path,
    sqlite_lock_path,
    temporary_lock_path,
)
from migrepo.db.lock_server import ConnectionLock, MySqlLock, PgLock
from migrepo.db.lock_wait import OnWait
from migrepo.errors import DatabaseError

__all__ = [
    "LOCK_SUFFIX",
    "OnWait",
    "announce_wait",
    "lock_key",
    "lock_name",
    "migration_lock",
    "sqlite_lock_path",
]


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
        lock: AbstractContextManager[str] = ConnectionLock(
            engine, PgLock(key, timeout, on_wait)
        )
    elif backend in ("mysql", "mariadb"):
        name = lock_name(engine.url.database, version_table, schema)
        lock = ConnectionLock(engine, MySqlLock(name, timeout, on_wait))
    elif backend == "sqlite":
        path = sqlite_lock_path(engine.url)
        if path is None:
            yield "no lock: in-memory database"
            return
        fallbacks = (directory_lock_path(directory), temporary_lock_path(directory))
        lock = FileLock(path, timeout, on_wait, fallbacks)
    else:
        path = directory_lock_path(directory)
        if path is None:
            raise DatabaseError(
                f"no migration lock for {backend}: pass the migrations directory for a lock file"
            )
        lock = FileLock(path, timeout, on_wait, (temporary_lock_path(directory),))
    with lock as description:
        yield description
