"""``flask db sync``: bring the database to the work tree's heads after a branch switch.

A developer upgrades on a feature branch, then checks out main: the
database is now at revisions whose files this work tree lacks. sync takes
each such revision's content hash from the ledger, fetches exactly that
content from git's object database (any commit, any branch) or from
migrepo's local cache, checks the hash, and lets Alembic run the
revisions' ``downgrade()`` from a version location of the run's own. Then
it upgrades to the work tree's heads.

Only the revisions the work tree lacks are undone: a revision the work tree
still has is never downgraded, so the rows of its tables stay (see
:func:`undo_plan`).

Code read from the database is never run: the database holds only hashes.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrepo.audit.walk import shallow_boundary_at
from migrepo.errors import MigrepoError
from migrepo.store.files import atomic_write
from migrepo.store.objects import ObjectCache
from migrepo.store.reader import blob_hash, read_revision_file

if TYPE_CHECKING:
    import networkx as nx

    from migrepo.graph import RevisionRecord

log = logging.getLogger("migrepo")


class SyncError(MigrepoError):
    """sync cannot plan or run: a script is missing, or the shape is not one it handles."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """A revision the work tree lacks, with the exact content that was applied."""

    revision: str
    content_hash: str
    source: str  # "git" or "cache"
    down_revisions: tuple[str, ...]
    dependencies: tuple[str, ...] = ()


@dataclass
class Plan:
    """What sync does: the revisions it downgrades, then the ones it upgrades."""

    current: list[str]
    recovered: list[Recovered] = field(default_factory=list)
    downgrade: list[str] = field(default_factory=list)  # revisions to undo, newest first
    kept: list[str] = field(default_factory=list)  # the database's heads after the downgrade
    upgrade: list[str] = field(default_factory=list)  # revisions to apply, oldest first
    heads: list[str] = field(default_factory=list)  # the work tree's heads

    @property
    def in_sync(self) -> bool:
        return not self.downgrade and not self.upgrade


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
    """The bytes with this blob hash from git's object database, else the cache.

    Git is best effort here: when it cannot be read (say, a repository owned
    by another user), one warning is logged and the cache is asked.
    """
    from migrepo.audit.gitrepo import open_repo, read_blob

    if not _HASH.fullmatch(content_hash):
        return None  # read from the database: never let it name a path (the cache's)
    data: bytes | None = None
    try:
        repo = open_repo(directory)
        if repo is not None:
            try:
                data = read_blob(repo, content_hash)
            finally:
                repo.close()
    except MigrepoError as exc:
        log.warning("git could not be read (%s); looking in migrepo's cache only", exc)
    if data is not None and blob_hash(data) == content_hash:
        return data, "git"
    data = ObjectCache(directory).get(content_hash)
    return (data, "cache") if data is not None else None


@contextmanager
def scratch_location(directory: str) -> Iterator[Path]:
    """A version location of this run's own, deleted when the run ends.

    Each run gets a fresh folder (``tempfile.mkdtemp``), so two syncs from
    one work tree, or a ``sync --dry-run`` beside a running sync, never
    touch each other's files. It lives in migrepo's git-ignored cache folder,
    or in the system's temporary directory when that folder cannot be
    written (a read-only checkout).
    """
    try:
        parent = ObjectCache(directory).ensure()
        location = tempfile.mkdtemp(prefix="sync-", dir=parent)
    except OSError:
        location = tempfile.mkdtemp(prefix="migrepo-sync-")
    try:
        yield Path(location)
    finally:
        shutil.rmtree(location, ignore_errors=True)


def recover(
    directory: str, location: Path, missing: list[str], known: set[str], hashes: dict[str, str]
) -> tuple[list[Recovered], list[RevisionRecord]]:
    """Write every missing revision (and missing ancestors) into ``location``.

    Returns what was recovered, and each recovered file's revision record.
    """
    recovered: dict[str, Recovered] = {}
    records: list[RevisionRecord] = []
    labels: set[str] = set()
    queue = [(revision, False) for revision in missing]
    while queue:
        revision, dependency = queue.pop()
        if revision in recovered or revision in known:
            continue
        content_hash = hashes.get(revision)
        if content_hash is None and dependency:
            labels.add(revision)  # a branch label (checked below), or a revision never applied
            continue
        if content_hash is None:
            raise SyncError(
                _no_record(
                    f"the database is at revision {revision}, but",
                    "so its downgrade cannot be found",
                )
            )
        found = fetch(directory, content_hash)
        if found is None:
            boundary = shallow_boundary_at(directory)
            fix = (
                f"this shallow clone's history stops at {', '.join(b[:7] for b in boundary)} "
                "and may lack it: run `git fetch --unshallow`"
                if boundary
                else "fetch the branch that has it (git fetch)"
            )
            raise SyncError(
                f"the file of revision {revision} (content {content_hash[:12]}) is neither "
                f"in git nor in migrepo's cache, so it cannot be undone: {fix} and run "
                f"`flask db sync` again, or {_RESTORE}{_LAST_RESORT}"
            )
        data, source = found
        # Named by the checked hash: the revision id comes from the database.
        path = location / f"recovered_{content_hash}.py"
        atomic_write(path, data, durable=False)  # scratch: deleted when the run ends
        read = read_revision_file(path)
        if read.record is None or read.record.revision != revision:
            raise SyncError(f"the content stored for revision {revision} is not that revision")
        record = read.record
        recovered[revision] = Recovered(
            revision, content_hash, source, record.down_revisions, record.dependencies
        )
        records.append(record)
        queue.extend((parent, False) for parent in record.down_revisions)
        queue.extend((name, True) for name in record.dependencies)
    labels -= {label for record in records for label in record.branch_labels}
    if labels:
        raise SyncError(
            f"the revisions this work tree lacks depend on {', '.join(sorted(labels))}, "
            "which neither the work tree nor the ledger knows; check out the branch that "
            "has them and run `flask db downgrade` there"
        )
    return list(recovered.values()), records


def _no_record(lead: str, why: str) -> str:
    return (
        f"{lead} the ledger has no record of its content, {why}: check out the branch "
        f"that has it and run `flask db downgrade` there, or {_RESTORE}{_LAST_RESORT}"
    )


# With its file back in the versions folder, the work tree has the revision again.
_RESTORE = "restore its revision file if it was deleted before it was ever committed"

# The way out when no copy of a revision's file is left anywhere.
_LAST_RESORT = (
    "; if no copy is left, undo its changes by hand and run "
    "`flask db stamp --purge REVISION` with the revision the database should be at"
)


def undo_plan(
    graph: nx.DiGraph, known: Iterable[str], heads: Iterable[str]
) -> tuple[list[str], list[str]]:
    """The revisions to downgrade, newest first, and the heads the database keeps.

    ``graph`` holds the work tree's revisions and the recovered ones;
    ``known`` are the work tree's; ``heads`` are the database's. Exactly the
    applied revisions the work tree lacks are undone. The work tree's
    revisions never depend on a revision it lacks, so these sit on top of
    everything else the database has, and nothing the work tree has is
    touched: not a sibling head, not a second base.

    Examples
    --------
    A feature branch added ``f1`` beside ``r1``, and ``m`` merges them;
    the work tree (main) has ``r0`` and ``r1``:

    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("r0"), RevisionRecord("r1", ("r0",)),
    ...                  RevisionRecord("f1", ("r0",)), RevisionRecord("m", ("r1", "f1"))])
    >>> undo_plan(G, {"r0", "r1"}, ["m"])
    (['m', 'f1'], ['r1'])
    >>> undo_plan(G, {"r0", "r1"}, ["r1", "f1"])
    (['f1'], ['r1'])
    """
    import networkx as nx

    from migrepo.graph import newest_first

    known, heads = set(known), list(heads)
    applied = set(heads)
    for head in heads:
        applied.update(nx.ancestors(graph, head))
    undo = applied - known
    kept = applied & known
    kept_heads = sorted(rev for rev in kept if not any(c in kept for c in graph.successors(rev)))
    return newest_first(graph.subgraph(undo).copy()), kept_heads


def where_is(directory: str, content_hash: str) -> tuple[list[str], list[str]]:
    """Commits (``short-sha subject``) that added this content, and branches holding one."""
    from migrepo.audit.gitrepo import open_repo

    try:
        repo = open_repo(directory)
    except MigrepoError:  # an explanation is best effort
        return [], []
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

    It points at ``flask db sync`` when sync can fetch the content that ran
    (from git or migrepo's cache); otherwise it says why sync cannot help
    and names the ways out: fetching the branch, restoring the file, or
    undoing the changes by hand and stamping the database.
    """
    content_hash = hashes.get(revision)
    lacks = f"the database is at revision {revision}, which this work tree does not have"
    if content_hash is None:
        return _no_record(f"{lacks}, and", "so `flask db sync` cannot undo it")
    where = ""
    commits, branches = where_is(directory, content_hash)
    boundary = shallow_boundary_at(directory)
    if commits:
        where = f" (it was added in commit {commits[0]}"
        where += f", on branch {', '.join(branches)})" if branches else ")"
    elif boundary:
        where = (
            " (which commit added it is unknown: this shallow clone's history stops at "
            f"{', '.join(b[:7] for b in boundary)})"
        )
    if not commits and _quietly_fetch(directory, content_hash) is None:
        unshallow = " (`git fetch --unshallow` may bring it)" if boundary else ""
        return (
            f"{lacks}{where}, and its content ({content_hash[:12]}) is neither in git nor in "
            f"migrepo's cache{unshallow}, so `flask db sync` cannot undo it: fetch the branch "
            f"that has it (git fetch), then sync, or {_RESTORE}{_LAST_RESORT}"
        )
    return f"{lacks}{where}; run `flask db sync` to bring the database to this work tree's heads"


def _quietly_fetch(directory: str, content_hash: str) -> tuple[bytes, str] | None:
    try:
        return fetch(directory, content_hash)
    except Exception:  # an explanation is best effort: say what is known
        return None
