"""migrepo's local object cache: every revision file it applied, by content hash.

``<migrations>/.migrepo/objects/ab/cdef...`` holds the bytes whose git blob
hash is ``abcdef...`` (see :mod:`migrepo.store.layout`). The folder ignores
itself in git, is safe to delete, and every read is checked against its
hash. ``flask db sync`` reads it when git's object database lacks a file.
Writing to it is best effort: callers catch ``OSError``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from migrepo.store import layout
from migrepo.store.blob import DIGEST, blob_hash
from migrepo.store.files import atomic_write


class ObjectCache:
    def __init__(self, migrations: str | os.PathLike[str]) -> None:
        self.migrations = Path(migrations)
        self.root = layout.root(migrations)
        self.objects = layout.objects_dir(migrations)

    def path(self, digest: str) -> Path:
        """Where ``digest`` lives; a value that is not a hex hash is refused."""
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"not a content hash: {digest!r}")
        return self.objects / digest[:2] / digest[2:]

    def put(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest``; a no-op when it is already there.

        Raises ``OSError`` when the cache cannot be written (a read-only
        checkout) and ``ValueError`` when ``data`` does not hash to ``digest``.
        """
        target = self.path(digest)
        if target.exists():
            return
        if blob_hash(data) != digest:
            raise ValueError(f"the bytes given for {digest} hash to {blob_hash(data)}")
        self.ensure()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, durable=False)

    def ensure(self) -> Path:
        """Create the cache folder, which tells git to ignore it; returns the folder."""
        folder = layout.ensure(self.migrations)
        self.objects.mkdir(exist_ok=True)
        return folder

    def get(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest``, or None; a corrupt copy is deleted."""
        try:
            target = self.path(digest)
            data = target.read_bytes()
        except (ValueError, OSError):
            return None
        if blob_hash(data) != digest:
            # On a read-only cache the copy stays, and is never trusted.
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
            return None
        return data
