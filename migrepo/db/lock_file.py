"""File migration locks: an exclusive ``flock``, for SQLite and databases with no lock.

SQLite locks ``<database file>.migrepo-lock`` beside the real database file
(symbolic links resolved, so every path to one database takes one lock); other
databases lock the migrations directory's ``.migrepo/lock``.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import suppress
from pathlib import Path

import sqlalchemy as sa

from migrepo.db.lock_wait import OnWait, poll
from migrepo.errors import DatabaseError
from migrepo.store import layout

log = logging.getLogger("migrepo")

LOCK_SUFFIX = ".migrepo-lock"


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
    # Keyed on the real file: a symbolic link to the database takes the same lock.
    real = Path(os.path.realpath(database))
    return real.with_name(real.name + LOCK_SUFFIX)


def directory_lock_path(directory: str | os.PathLike[str] | None) -> Path | None:
    return layout.lock_path(directory) if directory is not None else None


def temporary_lock_path(directory: str | os.PathLike[str] | None) -> Path | None:
    """Where to lock when ``.migrepo/`` cannot be written (a read-only checkout)."""
    return layout.temporary_lock_path(directory) if directory is not None else None


class FileLock:
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
        fallbacks: tuple[Path | None, ...] = (),
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.on_wait = on_wait
        self.fallbacks = [path for path in fallbacks if path is not None]
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
                        poll(
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
        """Open the lock file, else the first fallback that can be created (one warning)."""
        first = self.path
        for candidate in [self.path, *self.fallbacks]:
            try:
                fd = _open_lock_file(candidate)
            except OSError as exc:
                error = exc
                continue
            if candidate != first:
                log.warning(
                    "cannot create the lock file %s (%s); locking %s instead",
                    first, error, candidate,
                )
            self.path = candidate
            self.fallbacks = []  # starting over after a holder left: the same file
            return fd
        raise DatabaseError(f"cannot create the lock file {first}: {error}") from error

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            with suppress(OSError):
                self.path.unlink()  # still holding the lock, so no one else has it yet
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _open_lock_file(path: Path) -> int:
    if layout.is_lock_path(path):
        layout.ensure(path.parent.parent)  # the folder that ignores itself in git
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
