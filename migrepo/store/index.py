"""The revision index: what each revision file declares, remembered by content.

``<migrations>/.migrepo/index.json`` maps each file's stat (path, size,
mtime, inode) to its git blob hash, and each blob hash to the identifiers
read from it. A file whose stat is unchanged is not read again; a file
with new bytes is hashed, and parsed only if that content was never seen.
The index is a cache: it ignores itself in git, is rebuilt when missing or
unreadable, and is replaced atomically, so concurrent writers cannot tear it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrepo.store.files import atomic_write
from migrepo.store.objects import ObjectCache

FORMAT = 1
INDEX_FILE = "index.json"
# Files changed this close to the index's own write may have changed again
# within the same mtime tick: their stat is not trusted (git's "racy" rule).
RACY_NS = 2_000_000_000


@dataclass
class Index:
    path: Path
    written_ns: int = 0
    stats: dict[str, list[Any]] = field(default_factory=dict)  # name -> [size, mtime, ino, blob]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # blob -> declared values
    dirty: bool = False

    @classmethod
    def load(cls, migrations: str | os.PathLike[str]) -> Index:
        """The index of a migrations directory; an empty one if missing or unreadable."""
        path = Path(migrations) / ".migrepo" / INDEX_FILE
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != FORMAT:
                raise ValueError("another format")
            return cls(path, int(data["written_ns"]), dict(data["stats"]), dict(data["records"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path)

    def blob_for(self, name: str, stat: os.stat_result) -> str | None:
        """The blob hash remembered for a file whose stat has not changed since."""
        entry = self.stats.get(name)
        if entry is None or entry[:3] != [stat.st_size, stat.st_mtime_ns, stat.st_ino]:
            return None
        if stat.st_mtime_ns >= self.written_ns - RACY_NS:
            self.dirty = True  # rewrite the index, so that the stat is trusted next time
            return None
        blob = entry[3]
        return blob if blob in self.records else None

    def remember(self, name: str, stat: os.stat_result, blob: str, values: dict[str, Any]) -> None:
        entry = [stat.st_size, stat.st_mtime_ns, stat.st_ino, blob]
        if self.stats.get(name) != entry or blob not in self.records:
            self.stats[name] = entry
            self.records[blob] = values
            self.dirty = True

    def save(self, names: set[str]) -> None:
        """Write the index if it changed, keeping only the entries of ``names``."""
        stale = set(self.stats) - names
        if not self.dirty and not stale:
            return
        for name in stale:
            del self.stats[name]
        live = {entry[3] for entry in self.stats.values()}
        self.records = {blob: values for blob, values in self.records.items() if blob in live}
        ObjectCache(self.path.parent.parent).ensure()
        payload = {
            "format": FORMAT,
            "written_ns": time.time_ns(),
            "stats": self.stats,
            "records": self.records,
        }
        try:
            atomic_write(self.path, json.dumps(payload, separators=(",", ":")), durable=False)
        except OSError:
            return  # a read-only checkout: work without a cache
        self.dirty = False
