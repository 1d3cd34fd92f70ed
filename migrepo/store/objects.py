"""migrepo's local object cache: every revision file it applied, by content hash.

``<migrations>/.migrepo/objects/ab/cdef...`` holds the bytes whose git blob
hash is ``abcdef...``. The folder ignores itself in git, is safe to delete,
and every read is checked against its hash. ``flask db sync`` reads it when
git's object database lacks a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from migrepo.store.files import atomic_write
from migrepo.store.reader import blob_hash

CACHE_DIR = ".migrepo"
# A git object id: SHA-1, or SHA-256 for repositories that use it.
_DIGEST = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class ObjectCache:
    def __init__(self, migrations: str | os.PathLike[str]) -> None:
        self.root = Path(migrations) / CACHE_DIR
        self.objects = self.root / "objects"

    def path(self, digest: str) -> Path:
        """Where ``digest`` lives; a value that is not a hex hash is refused."""
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a content hash: {digest!r}")
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
        try:
            target = self.path(digest)
            data = target.read_bytes()
        except (ValueError, OSError):
            return None
        if blob_hash(data) != digest:
            target.unlink(missing_ok=True)
            return None
        return data
