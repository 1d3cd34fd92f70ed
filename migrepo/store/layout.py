"""The one owner of the ``<migrations>/.migrepo/`` layout.

Everything migrepo keeps beside a migrations directory lives in one
git-ignored folder, safe to delete::

    <migrations>/.migrepo/
        .gitignore     "*": the folder ignores itself in git
        index.json     the revision index (migrepo.store.index)
        objects/ab/cd… applied revision files by content hash (migrepo.store.objects)
        lock           the migration lock of databases with no lock of their own
        <scratch>/     short-lived working folders (sync's version location)

Other modules ask here for a path and never spell one out. Nothing in this
folder is on a migration's critical path: every write to it is best effort
(see :mod:`migrepo._best_effort`), so a read-only checkout works without it.
"""

from __future__ import annotations

import os
from pathlib import Path

from migrepo.store.files import atomic_write

CACHE_DIR = ".migrepo"
INDEX_FILE = "index.json"
OBJECTS_DIR = "objects"
LOCK_FILE = "lock"
_IGNORE = "# migrepo's local cache: safe to delete, never committed.\n*\n"


def root(migrations: str | os.PathLike[str]) -> Path:
    """``<migrations>/.migrepo``."""
    return Path(migrations) / CACHE_DIR


def index_path(migrations: str | os.PathLike[str]) -> Path:
    return root(migrations) / INDEX_FILE


def objects_dir(migrations: str | os.PathLike[str]) -> Path:
    return root(migrations) / OBJECTS_DIR


def lock_path(migrations: str | os.PathLike[str]) -> Path:
    return root(migrations) / LOCK_FILE


def temporary_lock_path(migrations: str | os.PathLike[str]) -> Path:
    """The lock file of a migrations directory whose ``.migrepo/`` cannot be written.

    In the system's temporary folder, named from the directory's real path, so
    every run on this machine from that directory takes the same lock.
    """
    import hashlib
    import tempfile

    real = os.path.realpath(migrations).encode("utf-8", "surrogateescape")
    return Path(tempfile.gettempdir()) / f"migrepo-{hashlib.sha256(real).hexdigest()[:20]}.lock"


def scratch_path(migrations: str | os.PathLike[str], name: str) -> Path:
    """A working folder ``name`` inside the cache folder (not created)."""
    return root(migrations) / name


def is_lock_path(path: Path) -> bool:
    """Whether ``path`` is a migrations directory's fallback lock file."""
    return path.name == LOCK_FILE and path.parent.name == CACHE_DIR


def ensure(migrations: str | os.PathLike[str]) -> Path:
    """Create the cache folder with its ``.gitignore``; returns the folder.

    Raises ``OSError`` where the folder cannot be written (a read-only
    checkout): callers treat that as best effort.
    """
    folder = root(migrations)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        atomic_write(ignore, _IGNORE)
    return folder
