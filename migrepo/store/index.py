"""The revision index: what each revision file declares, remembered by content.

``<migrations>/.migrepo/index.json`` maps each file's stat (path, size,
mtime, inode) to its git blob hash, and each blob hash to the identifiers
read from it. A file whose stat is unchanged is not read again; a file
with new bytes is hashed, and parsed only if that content was never seen.
The index is a cache: it ignores itself in git, is rebuilt when missing,
unreadable or in any doubt (a wrong type or shape anywhere), and is replaced
atomically, so concurrent writers cannot tear it. Writing it is best effort:
a read-only checkout works without it, with one warning.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrepo._best_effort import BestEffort, current, writing
from migrepo.store import layout
from migrepo.store.blob import DIGEST
from migrepo.store.files import atomic_write

# 2: every declared name is read with the same rules as Alembic's loader (see reader).
FORMAT = 2
INDEX_FILE = layout.INDEX_FILE
# What a record may hold, as the reader writes it.
_LISTS = ("down_revision", "branch_labels", "depends_on")
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
        path = layout.index_path(migrations)
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return cls(path)
        if not _sound(data):  # a cache in any doubt is rebuilt, never trusted
            return cls(path)
        return cls(path, data["written_ns"], data["stats"], data["records"])

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

    def save(self, names: set[str], effort: BestEffort | None = None) -> None:
        """Write the index if it changed, keeping only the entries of ``names``.

        Best effort: a failure to write warns once (through ``effort``) and
        the command goes on without a cache.
        """
        stale = set(self.stats) - names
        if not self.dirty and not stale:
            return
        for name in stale:
            del self.stats[name]
        live = {entry[3] for entry in self.stats.values()}
        self.records = {blob: values for blob, values in self.records.items() if blob in live}
        payload = {
            "format": FORMAT,
            "written_ns": time.time_ns(),
            "stats": self.stats,
            "records": self.records,
        }
        with (effort or current()).attempt(writing(self.path.parent)):
            layout.ensure(self.path.parent.parent)
            atomic_write(self.path, json.dumps(payload, separators=(",", ":")), durable=False)
            self.dirty = False


def _sound(data: Any) -> bool:
    """Whether ``data`` has exactly the shape :meth:`Index.save` writes."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    written, stats, records = data.get("written_ns"), data.get("stats"), data.get("records")
    if not _is_int(written) or not isinstance(stats, dict) or not isinstance(records, dict):
        return False
    for name, entry in stats.items():
        if not (
            isinstance(name, str)
            and isinstance(entry, list)
            and len(entry) == 4
            and all(_is_int(value) for value in entry[:3])
            and isinstance(entry[3], str)
            and DIGEST.fullmatch(entry[3])
        ):
            return False
    return all(
        isinstance(blob, str) and DIGEST.fullmatch(blob) and _sound_values(values)
        for blob, values in records.items()
    )


def _sound_values(values: Any) -> bool:
    if not isinstance(values, dict) or not isinstance(values.get("revision"), str):
        return False
    if not isinstance(values.get("__doc__"), str | None):
        return False
    for key, value in values.items():
        if key in _LISTS:
            if not (
                value is None
                or isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                return False
        elif key not in ("revision", "__doc__"):
            return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
