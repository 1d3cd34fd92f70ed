"""migrepo's local object cache: every revision file it applied, by content hash.

``<migrations>/.migrepo/objects/ab/cdef...`` holds the bytes whose git blob
hash is ``abcdef...``. The folder ignores itself in git, is safe to delete,
and every read is checked against its hash. ``flask db sync`` reads it when
git's object database lacks a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from migrepo._files import atomic_write
from migrepo._reader import blob_hash

CACHE_DIR = ".migrepo"


class ObjectCache:
    def __init__(self, migrations: str | os.PathLike[str]) -> None:
        self.root = Path(migrations) / CACHE_DIR
        self.objects = self.root / "objects"

    def path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def put(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest``; a no-op when it is already there."""
        target = self.path(digest)
        if target.exists():
            return
        self.ensure()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, durable=False)

    def ensure(self) -> Path:
        """Create the cache folder, which tells git to ignore it; returns the folder."""
        self.objects.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, "# migrepo's local cache: safe to delete, never committed.\n*\n")
        return self.root

    def get(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest``, or None; a corrupt copy is deleted."""
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except OSError:
            return None
        if blob_hash(data) != digest:
            target.unlink(missing_ok=True)
            return None
        return data
