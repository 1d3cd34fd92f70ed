"""The cache of the git walk: ``history.json`` and ``history-walk.json`` in ``.migrepo/``.

``history.json`` is the answer of one walk (each file's introducing and last
changing commit), keyed by the commit it was computed at, the version
locations and the shallow boundary: what a run at the same commit reads.
``history-walk.json`` is the walk behind it, read only when a later run
continues it with the commits added since. Best effort: a write that fails
logs one warning, and a file that cannot be read is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrepo.audit.gitcore import CommitInfo
from migrepo.audit.lineage import CUT, Change, History, Step
from migrepo.store.files import atomic_write
from migrepo.store.objects import ObjectCache

log = logging.getLogger("migrepo")

FORMAT = 1
CACHE_FILE = "history.json"  # the answer at one commit
WALK_FILE = "history-walk.json"  # the walk behind it, for a later run to continue


def _cache_path(cache_dir: str | os.PathLike[str], name: str = CACHE_FILE) -> Path:
    return ObjectCache(cache_dir).root / name


def load(
    cache_dir: str | os.PathLike[str], locations: Sequence[str], boundary: Sequence[str]
) -> History | None:
    """The cached answer for these locations and this shallow boundary; None if none is usable.

    Only the answer is read here; :func:`load_steps` reads the walk behind it
    when a run has to continue it.
    """
    try:
        data = json.loads(_cache_path(cache_dir).read_bytes())
        if (
            data["format"] != FORMAT
            or data["locations"] != list(locations)
            or data["boundary"] != list(boundary)
        ):
            return None
        shas = [fields[0] for fields in data["commits"]]

        def sha(index: int) -> str:
            return CUT + shas[-index - 1] if index < 0 else shas[index]

        files = {path: (sha(first), sha(last)) for path, (first, last) in data["files"].items()}
        return History(
            str(data["head"]),
            files,
            {},
            tuple(boundary),
            (),
            data["tip"],
            {fields[0]: fields for fields in data["commits"]},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None  # missing, unreadable or from another version: walk again


def load_steps(cache_dir: str | os.PathLike[str], cached: History) -> History | None:
    """``cached`` with the walk it was computed from; None if that cannot be read."""
    try:
        data = json.loads(_cache_path(cache_dir, WALK_FILE).read_bytes())
        if data["format"] != FORMAT or data["head"] != cached.head:
            return None
        commits = {fields[0]: CommitInfo(*fields) for fields in data["commits"]}
        steps = tuple(
            Step(sha, tuple(parents), tuple(Change(*change) for change in changes))
            for sha, parents, changes in data["steps"]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    return History(cached.head, cached.files, commits, cached.boundary, steps, cached.tip)


def save(cache_dir: str | os.PathLike[str], locations: Sequence[str], found: History) -> None:
    """Write the walk, then the answer (small: what a run at the same commit reads)."""
    walked = {
        "format": FORMAT,
        "head": found.head,
        "commits": [_commit_fields(info) for info in found.commits.values()],
        "steps": [
            [step.sha, list(step.parents), [_change_fields(c) for c in step.changes]]
            for step in found.steps
        ],
    }
    index: dict[str, int] = {}

    def number(sha: str) -> int:
        cut = sha.startswith(CUT)
        sha = sha[len(CUT):] if cut else sha
        at = index.setdefault(sha, len(index))
        return -at - 1 if cut else at

    files = {path: [number(first), number(last)] for path, (first, last) in found.files.items()}
    answer = {
        "format": FORMAT,
        "head": found.head,
        "tip": found.tip,
        "locations": list(locations),
        "boundary": list(found.boundary),
        "commits": [_commit_fields(found.info(sha)) for sha in index],
        "files": files,
    }
    try:
        ObjectCache(cache_dir).ensure()
        for name, payload in ((WALK_FILE, walked), (CACHE_FILE, answer)):
            atomic_write(
                _cache_path(cache_dir, name),
                json.dumps(payload, separators=(",", ":")),
                durable=False,
            )
    except OSError as exc:
        log.warning("git history not cached in %s: %s", ObjectCache(cache_dir).root, exc)


def _commit_fields(info: CommitInfo) -> list[str]:
    return [info.sha, info.author, info.date, info.subject]


def _change_fields(change: Change) -> list[Any]:
    fields: list[Any] = [change.status, change.path, change.blob]
    if change.old_path is not None:
        fields.append(change.old_path)
    return fields
