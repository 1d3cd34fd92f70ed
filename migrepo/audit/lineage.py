"""What the git walk finds, and how it is replayed into each file's history.

:mod:`migrepo.audit.walk` reads git's log into :class:`Step` records;
:func:`replay` then follows each file from the oldest step to the newest,
the way git's history simplification does for a single path (see
:mod:`migrepo.audit.walk` for the rules). :class:`History` is the answer of
one walk, as :mod:`migrepo.audit.walkcache` stores it. No git here: plain data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrepo.audit.gitcore import CommitInfo

# An introducing or changing commit that lies beyond a shallow clone's boundary
# is stored as this prefix and the boundary commit: "at or before <boundary>".
CUT = "^"


@dataclass(frozen=True, slots=True)
class Change:
    """One file changed by a commit, against its first parent."""

    status: str  # A, C, D, M, R or T
    path: str  # the path after the commit (for R, the new name)
    blob: str  # the file's blob after the commit; zeros for D
    old_path: str | None = None  # R: the name before


@dataclass(frozen=True, slots=True)
class Step:
    """A commit that touched the version locations, with its parents in the walk."""

    sha: str
    parents: tuple[str, ...]
    changes: tuple[Change, ...]


# path -> (introduced, last changed, blob); a commit is a sha or CUT + boundary sha.
Lineage = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class FileHistory:
    """Where one file at HEAD came from."""

    introduced_in: CommitInfo | None
    last_changed_in: CommitInfo | None
    # The shallow clone's boundary commit, when the history before it is needed and missing.
    cut_off_at: CommitInfo | None = None


@dataclass
class History:
    """The answer of one walk, at commit ``head``."""

    head: str
    files: dict[str, tuple[str, str]]  # path -> (introduced, last changed)
    commits: dict[str, CommitInfo]  # every commit the walk saw
    boundary: tuple[str, ...] = ()  # a shallow clone's boundary commits
    # What the walk replayed, oldest first: what a later run continues from.
    steps: tuple[Step, ...] = ()
    tip: str | None = None  # the newest step (HEAD itself may touch no location)
    # Commits read from the cache as [sha, author, date, subject], made CommitInfo on demand.
    raw_commits: dict[str, list[str]] = field(default_factory=dict)

    @property
    def shallow(self) -> bool:
        return bool(self.boundary)

    def knows(self, sha: str) -> bool:
        return sha in self.commits or sha in self.raw_commits

    def info(self, sha: str) -> CommitInfo:
        found = self.commits.get(sha)
        if found is None:
            fields = self.raw_commits.get(sha)
            found = CommitInfo(*fields) if fields else CommitInfo(sha, "", "", "")
            self.commits[sha] = found
        return found

    def of(self, path: str) -> FileHistory:
        """The history of the file at ``path`` (relative to the work tree); Nones if unknown."""
        entry = self.files.get(path)
        if entry is None:
            return FileHistory(None, None)
        introduced, last = entry
        cut = None
        if introduced.startswith(CUT):
            cut = self.info(introduced[len(CUT):])
        return FileHistory(
            None if cut else self.info(introduced),
            None if last.startswith(CUT) else self.info(last),
            cut,
        )


def replay(
    steps: Sequence[Step], boundary: frozenset[str] = frozenset()
) -> tuple[str | None, dict[str, Lineage]]:
    """Follow every file through ``steps`` (oldest first); the newest step and its files.

    Each step's parents come before it. A step whose parent is not in
    ``steps`` starts from no files. A parentless step in ``boundary`` (a
    shallow clone's cut) holds files whose history is unknown.

    >>> steps = [
    ...     Step("c1", (), (Change("A", "v/a.py", "b1"),)),
    ...     Step("c2", ("c1",), (Change("R", "w/a.py", "b2", "v/a.py"),)),
    ... ]
    >>> replay(steps)
    ('c2', {'w/a.py': ('c1', 'c2', 'b2')})
    """
    children = Counter(parent for step in steps for parent in step.parents)
    states: dict[str, dict[str, Lineage]] = {}
    tip = None
    for step in steps:
        first, *others = step.parents or ("",)
        files = _take(states, children, first)
        merged = [_take(states, children, parent, copy=False) for parent in others]
        cut = step.sha in boundary and not step.parents
        _apply(step, files, merged, CUT + step.sha if cut else None)
        states[step.sha] = files
        tip = step.sha
    return tip, {} if tip is None else states.get(tip, {})


def _take(
    states: dict[str, dict[str, Lineage]], children: Counter[str], parent: str, copy: bool = True
) -> dict[str, Lineage]:
    """The files at ``parent``: its own dict for its last child to change, else a copy."""
    files = states.get(parent)
    if files is None:
        return {}
    children[parent] -= 1
    if children[parent] <= 0:
        del states[parent]
        return files
    return dict(files) if copy else files


def _apply(
    step: Step, files: dict[str, Lineage], merged: list[dict[str, Lineage]], cut: str | None
) -> None:
    sha = step.sha
    # Read what each change continues before changing anything: a commit may rename
    # a.py to b.py and add a new a.py.
    before = [files.get(change.old_path or change.path) for change in step.changes]
    for change in step.changes:
        if change.status in ("D", "R"):
            files.pop(change.old_path or change.path, None)
    for change, prior in zip(step.changes, before, strict=True):
        if change.status == "D":
            continue
        if cut is not None:  # present at a shallow boundary: added there or before
            files[change.path] = (cut, cut, change.blob)
            continue
        same = next(
            (other[change.path] for other in merged
             if other.get(change.path, ("", "", ""))[2] == change.blob),
            None,
        )
        if same is not None:  # the merge took this file from another parent as it was
            files[change.path] = same
            continue
        if change.status in ("A", "C"):
            # A merge that changed a file only another parent had continues its history.
            prior = next((other[change.path] for other in merged if change.path in other), None)
        files[change.path] = (prior[0] if prior is not None else sha, sha, change.blob)
