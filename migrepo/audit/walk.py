"""One git walk of the version locations' history, cached in ``.migrepo/``.

For every file under the version locations at HEAD, :func:`history` answers
which commit introduced it (following renames, also between version
locations) and which commit last changed it. One ``git log`` lists every
commit that touched the locations, with its changes against its first
parent; :func:`replay` then follows each file from the oldest commit to the
newest, the way git's history simplification does for a single path:

- a commit adds (``A``), changes (``M``, ``T``), renames (``R``) or deletes
  (``D``) files; a copy (``C``) is a new file, since revision files written
  from one template look like copies of each other;
- a merge commit inherits each file from the first parent that has it with
  the same content. A file the merge result holds with content no parent
  has was changed by the merge, and a file no parent has at all was
  introduced by it (a conflict resolution, or ``flask db merge heads``
  committed with the merge).

In a shallow clone the walk stops at the boundary commits: a file present
there has an unknown history, never the boundary commit as its author.

The answer is cached in ``<migrations>/.migrepo/history.json``, keyed by the
commit it was computed at (and the locations and shallow boundary), and the
walk behind it in ``history-walk.json``. A later
run walks only the commits added since; when the cached commit is no longer
an ancestor of HEAD (after a rebase or a reset) it walks everything again. The
cache is best effort: a write that fails logs one warning, and a file that
cannot be read is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrepo.audit.gitrepo import CommitInfo, wrap_errors
from migrepo.store.files import atomic_write
from migrepo.store.objects import ObjectCache

if TYPE_CHECKING:
    import git

log = logging.getLogger("migrepo")

FORMAT = 1
CACHE_FILE = "history.json"  # the answer at one commit
WALK_FILE = "history-walk.json"  # the walk behind it, for a later run to continue
# An introducing or changing commit that lies beyond a shallow clone's boundary
# is stored as this prefix and the boundary commit: "at or before <boundary>".
CUT = "^"
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}
_HEADER = "%x01%H%x00%P%x00%aN <%aE>%x00%aI%x00%s%x00"


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


# --- the walk ------------------------------------------------------------------


def history(
    repo: git.Repo,
    locations: Sequence[str],
    cache_dir: str | os.PathLike[str] | None = None,
) -> History | None:
    """The history of every file under ``locations`` (paths relative to the work tree).

    None on a branch with no commit yet. ``cache_dir`` is the migrations
    directory whose ``.migrepo/`` keeps the answer; None walks without a cache.
    """
    from migrepo.audit.gitrepo import _head_sha

    head = _head_sha(repo)
    if head is None:
        return None
    locations = sorted(set(locations))
    boundary = shallow_boundary(repo)
    cached = _load(cache_dir, locations, boundary) if cache_dir is not None else None
    if cached is not None and cached.head == head:
        return cached
    found = None
    if cached is not None and cached.tip is not None and _is_ancestor(repo, cached.head, head):
        assert cache_dir is not None
        walked = _load_steps(cache_dir, cached)
        if walked is not None:
            found = _extend(repo, walked, head, locations, boundary)
    if found is None:
        found = _full(repo, head, locations, boundary)
    if cache_dir is not None:
        _save(cache_dir, locations, found)
    return found


def shallow_boundary(repo: git.Repo) -> tuple[str, ...]:
    """The boundary commits of a shallow clone (its ``shallow`` file); empty when complete."""
    return _read_shallow(Path(repo.common_dir) / "shallow")


def shallow_boundary_at(start: str | os.PathLike[str]) -> tuple[str, ...]:
    """:func:`shallow_boundary` of the work tree holding ``start``, without starting git.

    For commands that need git only in a shallow clone (``flask db log``).
    """
    here = Path(start).absolute()
    for folder in (here, *here.parents):
        dotgit = folder / ".git"
        try:
            if dotgit.is_dir():
                gitdir = dotgit
            elif dotgit.is_file():  # a linked work tree or a submodule: "gitdir: <path>"
                text = dotgit.read_text().strip()
                if not text.startswith("gitdir:"):
                    return ()
                gitdir = folder / text[len("gitdir:"):].strip()
            else:
                continue
            common = gitdir / "commondir"
            if common.is_file():
                gitdir = gitdir / common.read_text().strip()
        except OSError:
            return ()
        return _read_shallow(gitdir / "shallow")
    return ()


def _read_shallow(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text()
    except OSError:
        return ()
    return tuple(sorted(line.strip() for line in text.splitlines() if line.strip()))


def missing_commits(repo: git.Repo, shas: Iterable[str]) -> set[str]:
    """The commits among ``shas`` that git's object database does not have."""
    missing = set()
    for sha in set(shas):
        try:
            repo.odb.info(bytes.fromhex(sha))
        except ValueError:  # not hex, or "<sha> missing"
            missing.add(sha)
    return missing


def _full(repo: git.Repo, head: str, locations: Sequence[str], boundary: Sequence[str]) -> History:
    steps, commits = _walk(repo, [head], locations)
    return _answer(head, steps, commits, boundary)


def _extend(
    repo: git.Repo, cached: History, head: str, locations: Sequence[str], boundary: Sequence[str]
) -> History | None:
    """Continue ``cached`` with the commits added since; None when it cannot be continued."""
    new, commits = _walk(repo, [head, f"^{cached.head}"], locations)
    known = {step.sha for step in cached.steps}
    fresh = {step.sha for step in new}
    # A new commit's parent in the walk is a new commit or the first old commit git met:
    # the cached head, or a fork point of a branch merged since. Map it to the newest
    # commit of the cached walk with the same files there.
    resolved: dict[str, str | None] = {cached.head: cached.tip}
    for step in new:
        for parent in step.parents:
            if parent in fresh or parent in known or parent in resolved:
                continue
            resolved[parent] = _newest_touching(repo, parent, locations)
            if resolved[parent] is not None and resolved[parent] not in known:
                return None  # a commit the cached walk never saw: start again
    remapped = [
        Step(
            step.sha,
            tuple(
                p for p in (resolved.get(p, p) for p in step.parents) if p is not None
            ),
            step.changes,
        )
        for step in new
    ]
    return _answer(head, [*cached.steps, *remapped], {**cached.commits, **commits}, boundary)


def _answer(
    head: str, steps: Sequence[Step], commits: dict[str, CommitInfo], boundary: Sequence[str]
) -> History:
    tip, files = replay(steps, frozenset(boundary))
    return History(
        head,
        {path: (lineage[0], lineage[1]) for path, lineage in files.items()},
        commits,
        tuple(boundary),
        tuple(steps),
        tip,
    )


def _is_ancestor(repo: git.Repo, older: str, newer: str) -> bool:
    import git

    try:
        repo.git.merge_base("--is-ancestor", older, newer)
    except git.GitCommandError:  # exit 1: not an ancestor; 128: an unknown commit
        return False
    return True


def _newest_touching(repo: git.Repo, commit: str, locations: Sequence[str]) -> str | None:
    """The newest commit in ``commit``'s simplified history that touched the locations."""
    with wrap_errors("walk the history of the version locations"):
        output = repo.git.log(
            "--topo-order", "--max-count=1", "--format=%H", commit, "--", *locations,
            env=_LITERAL,
        )
    return output.strip() or None


def _walk(
    repo: git.Repo, revisions: Sequence[str], locations: Sequence[str]
) -> tuple[list[Step], dict[str, CommitInfo]]:
    """Every commit of ``revisions`` that touched ``locations``, oldest first.

    ``--parents`` rewrites each commit's parents to the nearest ones in the
    walk. ``--diff-merges=first-parent`` shows a merge's changes against its
    first parent: what the merge brought into that line.
    """
    if not locations:
        return [], {}
    with wrap_errors("walk the history of the version locations"):
        raw = repo.git(c="log.follow=false").log(
            "--topo-order", "--parents", "--raw", "--no-abbrev", "-z", "-M",
            "--diff-merges=first-parent", "--no-color", "--no-show-signature",
            "--no-ext-diff", "--no-textconv", f"--format={_HEADER}", *revisions,
            "--", *locations, env=_LITERAL, stdout_as_string=False,
        )
    steps, commits = parse(raw)
    steps.reverse()
    return steps, commits


def parse(raw: bytes) -> tuple[list[Step], dict[str, CommitInfo]]:
    """Read ``git log -z --raw`` output in the format :data:`_HEADER`; newest first."""
    steps: list[Step] = []
    commits: dict[str, CommitInfo] = {}
    for chunk in raw.split(b"\x01")[1:]:
        fields = chunk.split(b"\0")
        sha, parents, author, date, subject = (_text(f) for f in fields[:5])
        commits[sha] = CommitInfo(sha, author, date, subject)
        changes: list[Change] = []
        tokens = iter(fields[5:])
        for token in tokens:
            meta = token.lstrip(b"\n")
            if not meta.startswith(b":"):
                continue
            # ":old_mode new_mode old_blob new_blob status", then the path(s).
            _, _, _, blob, status = meta[1:].decode("ascii").split(" ")
            path = _path(next(tokens))
            kind = status[:1]
            if kind in ("R", "C"):
                old, path = path, _path(next(tokens))
                changes.append(Change(kind, path, blob, old if kind == "R" else None))
            else:
                changes.append(Change(kind, path, blob))
        steps.append(Step(sha, tuple(parents.split()), tuple(changes)))
    return steps, commits


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _path(value: bytes) -> str:
    # The file system's names: revision files are found on disk, then matched by name.
    return os.fsdecode(value)


# --- replaying the walk ----------------------------------------------------------


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


# --- the cache -------------------------------------------------------------------


def _cache_path(cache_dir: str | os.PathLike[str], name: str = CACHE_FILE) -> Path:
    return ObjectCache(cache_dir).root / name


def _load(
    cache_dir: str | os.PathLike[str], locations: Sequence[str], boundary: Sequence[str]
) -> History | None:
    """The cached answer for these locations and this shallow boundary; None if none is usable.

    Only the answer is read here; :func:`_load_steps` reads the walk behind it
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


def _load_steps(cache_dir: str | os.PathLike[str], cached: History) -> History | None:
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


def _save(cache_dir: str | os.PathLike[str], locations: Sequence[str], found: History) -> None:
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


def commit_infos(repo: git.Repo, shas: Iterable[str]) -> dict[str, CommitInfo]:
    """:class:`CommitInfo` of commits the walk may not have seen (a shallow boundary)."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    with wrap_errors("read the shallow clone's boundary commits"):
        output = repo.git.log(
            "--no-walk", "--no-color", "--no-show-signature",
            "--format=%x01%H%x00%aN <%aE>%x00%aI%x00%s", *wanted, "--",
        )
    found = {}
    for entry in output.split("\x01")[1:]:
        sha, author, date, subject = entry.rstrip("\n").split("\0", 3)
        found[sha] = CommitInfo(sha, author, date, subject)
    return found
