"""One git walk of the version locations' history, cached in ``.migrepo/``.

For every file under the version locations at HEAD, :func:`history` answers
which commit introduced it (following renames, also between version
locations) and which commit last changed it. One ``git log`` lists every
commit that touched the locations, with its changes against its first
parent; :func:`replay` then follows each file from the oldest commit to the
newest (:mod:`migrepo.audit.lineage`), the way git's history simplification
does for a single path:

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
walk behind it in ``history-walk.json`` (:mod:`migrepo.audit.walkcache`). A later
run walks only the commits added since; when the cached commit is no longer
an ancestor of HEAD (after a rebase or a reset) it walks everything again. The
cache is best effort: a write that fails logs one warning, and a file that
cannot be read is ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migrepo.audit import walkcache
from migrepo.audit.gitcore import CommitInfo, _head_sha, cat_file, wrap_errors
from migrepo.audit.lineage import Change, History, Step, replay
from migrepo.audit.walkcache import CACHE_FILE as CACHE_FILE
from migrepo.audit.walkcache import WALK_FILE as WALK_FILE

if TYPE_CHECKING:
    import git

_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_HEADER = "%x01%H%x00%P%x00%aN <%aE>%x00%aI%x00%s%x00"


def history(
    repo: git.Repo,
    locations: Sequence[str],
    cache_dir: str | os.PathLike[str] | None = None,
) -> History | None:
    """The history of every file under ``locations`` (paths relative to the work tree).

    None on a branch with no commit yet. ``cache_dir`` is the migrations
    directory whose ``.migrepo/`` keeps the answer; None walks without a cache.
    """
    head = _head_sha(repo)
    if head is None:
        return None
    locations = sorted(set(locations))
    boundary = shallow_boundary(repo)
    cached = walkcache.load(cache_dir, locations, boundary) if cache_dir is not None else None
    if cached is not None and cached.head == head:
        return cached
    found = None
    if cached is not None and cached.tip is not None and _is_ancestor(repo, cached.head, head):
        assert cache_dir is not None
        walked = walkcache.load_steps(cache_dir, cached)
        if walked is not None:
            found = _extend(repo, walked, head, locations, boundary)
    if found is None:
        found = _full(repo, head, locations, boundary)
    if cache_dir is not None:
        walkcache.save(cache_dir, locations, found)
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
    wanted = sorted(set(shas))
    named = [sha for sha in wanted if _HEX.fullmatch(sha)]
    found = cat_file(repo, "--batch-check", named, "look up commits")
    have = {sha for sha, header in zip(named, found, strict=True) if header is not None}
    return set(wanted) - have


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
