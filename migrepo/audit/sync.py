"""``flask db sync``: bring the database to the work tree's heads after a branch switch.

A developer upgrades on a feature branch, then checks out main: the
database is now at revisions whose files this work tree lacks. sync takes
each such revision's content hash from the ledger, fetches exactly that
content from git's object database (any commit, any branch) or from
migrepo's local cache, checks the hash, and lets Alembic run the
revisions' ``downgrade()`` from a temporary version location. Then it
upgrades to the work tree's heads.

Code read from the database is never run: the database holds only hashes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrepo.errors import MigrepoError
from migrepo.store.files import atomic_write
from migrepo.store.objects import ObjectCache
from migrepo.store.reader import blob_hash, read_revision_file


class SyncError(MigrepoError):
    """sync cannot plan or run: a script is missing, or the shape is not one it handles."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """A revision the work tree lacks, with the exact content that was applied."""

    revision: str
    content_hash: str
    source: str  # "git" or "cache"
    down_revisions: tuple[str, ...]


@dataclass
class Plan:
    current: list[str]
    recovered: list[Recovered] = field(default_factory=list)
    downgrade: list[str] = field(default_factory=list)  # revisions to undo, newest first
    downgrade_to: str | None = None
    heads: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.downgrade and sorted(self.current) == sorted(self.heads)


def latest_hashes(rows: list[dict[str, Any]]) -> dict[str, str]:
    """revision -> content hash of its latest successful upgrade; ``rows`` newest first."""
    found: dict[str, str] = {}
    for row in rows:
        applied = row["direction"] in ("upgrade", "stamp") and row["outcome"] == "ok"
        if applied and row["content_hash"]:
            found.setdefault(row["revision"], row["content_hash"])
    return found


# A git blob hash, SHA-1 or SHA-256.
_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def fetch(directory: str, content_hash: str) -> tuple[bytes, str] | None:
    """The bytes with this blob hash from git's object database, else the cache."""
    from migrepo.audit.gitrepo import open_repo, read_blob

    if not _HASH.fullmatch(content_hash):
        return None  # read from the database: never let it name a path (the cache's)
    repo = open_repo(directory)
    if repo is not None:
        try:
            data = read_blob(repo, content_hash)
        finally:
            repo.close()
        if data is not None and blob_hash(data) == content_hash:
            return data, "git"
    data = ObjectCache(directory).get(content_hash)
    return (data, "cache") if data is not None else None


@contextmanager
def recovery_location(directory: str) -> Iterator[Path]:
    """A scratch version location inside migrepo's git-ignored cache folder."""
    location = ObjectCache(directory).ensure() / "sync"
    shutil.rmtree(location, ignore_errors=True)
    location.mkdir(parents=True)
    try:
        yield location
    finally:
        shutil.rmtree(location, ignore_errors=True)


def recover(
    directory: str, location: Path, missing: list[str], known: set[str], hashes: dict[str, str]
) -> list[Recovered]:
    """Write every missing revision (and missing ancestors) into ``location``."""
    recovered: dict[str, Recovered] = {}
    queue = list(missing)
    while queue:
        revision = queue.pop()
        if revision in recovered or revision in known:
            continue
        content_hash = hashes.get(revision)
        if content_hash is None:
            raise SyncError(
                f"the database is at revision {revision}, but the ledger has no record of "
                "its content, so its downgrade cannot be found; check out the branch that "
                "has it and run `flask db downgrade` there"
            )
        found = fetch(directory, content_hash)
        if found is None:
            raise SyncError(
                f"the script of revision {revision} (content {content_hash}) is neither in "
                "git's object database nor in migrepo's cache; fetch the branch that has it "
                "(git fetch) and run `flask db sync` again"
            )
        data, source = found
        # Named by the checked hash: the revision id comes from the database.
        path = location / f"recovered_{content_hash}.py"
        atomic_write(path, data)
        read = read_revision_file(path)
        if read.record is None or read.record.revision != revision:
            raise SyncError(f"the content stored for revision {revision} is not that revision")
        recovered[revision] = Recovered(revision, content_hash, source, read.record.down_revisions)
        queue.extend(read.record.down_revisions)
    return list(recovered.values())


def downgrade_target(recovered: list[Recovered], known: set[str]) -> str:
    """The work-tree revision the database must go back to: the recovered branch's root."""
    targets = {parent for rev in recovered for parent in rev.down_revisions if parent in known}
    if any(not rev.down_revisions for rev in recovered):
        targets.add("base")
    if len(targets) != 1:
        raise SyncError(
            "the revisions this work tree lacks join it at several points "
            f"({', '.join(sorted(targets))}); downgrade by hand to one of them, then "
            "run `flask db upgrade`"
        )
    return targets.pop()


def where_is(directory: str, content_hash: str) -> tuple[list[str], list[str]]:
    """Commits (``short-sha subject``) that added this content, and branches holding one."""
    from migrepo.audit.gitrepo import open_repo

    repo = open_repo(directory)
    if repo is None:
        return [], []
    try:
        if not repo.references:
            return [], []
        # --find-object names the blob itself: no path needed, any branch.
        commits = repo.git.log(
            "--all", "--format=%h %s", f"--find-object={content_hash}", "--max-count=3"
        ).splitlines()
        branches: set[str] = set()
        for line in commits:
            sha = line.split(" ", 1)[0]
            output = repo.git.branch("--all", "--contains", sha, "--format=%(refname:short)")
            branches.update(name for name in output.split() if not name.endswith("/HEAD"))
        return commits, sorted(branches)
    except Exception:  # an explanation is best effort: never hide the real error
        return [], []
    finally:
        repo.close()


def explain_missing(directory: str, revision: str, hashes: dict[str, str]) -> str:
    """A one-line error for a database at a revision this work tree lacks.

    It names the way out: `flask db sync` when the content that ran can be
    fetched (from git or migrepo's cache), else restoring the file or
    stamping the database by hand.
    """
    where = ""
    content_hash = hashes.get(revision)
    if content_hash is not None:
        commits, branches = where_is(directory, content_hash)
        if commits:
            where = f" (it was added in commit {commits[0]}"
            where += f", on branch {', '.join(branches)})" if branches else ")"
    problem = f"the database is at revision {revision}, which this work tree does not have{where}"
    if content_hash is not None and fetch(directory, content_hash) is not None:
        return f"{problem}; run `flask db sync` to bring the database to this work tree's heads"
    found = "the ledger has no record of its content" if content_hash is None else (
        f"its content ({content_hash[:12]}) is neither in git nor in migrepo's cache"
    )
    return (
        f"{problem}, and {found}, so `flask db sync` cannot undo it: restore its revision "
        "file, or undo its changes by hand and run `flask db stamp --purge <revision>` "
        "with the revision the database should be at"
    )
