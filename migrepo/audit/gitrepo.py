"""What git knows about revision files, through GitPython.

Small functions of an open ``git.Repo``: the state of a file in the work
tree, the commits that introduced and last changed it, a blob by its hash,
and the commits and branches that hold a path. :func:`blame` puts them
together for ``flask db blame`` and ``flask db show``, from the one walk of
:mod:`migrepo.audit.walk`.

Opening the repository, HEAD, :class:`CommitInfo` and :func:`wrap_errors`
live in :mod:`migrepo.audit.gitcore` and are re-exported here. GitPython is
imported inside the functions, never at module import. Every git failure is
raised as a :class:`~migrepo.errors.GitError` whose cause is GitPython's
exception.

Paths given to git always follow ``--`` and are matched literally, never as
options or as glob patterns.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from migrepo.audit.gitcore import (
    CommitInfo,
    _head_sha,
    cat_file,
    relative_path,
    relative_paths,
    work_tree,
    wrap_errors,
)

# Re-exported for the callers that open the repository and read HEAD through gitrepo.
from migrepo.audit.gitcore import head as head
from migrepo.audit.gitcore import open_repo as open_repo

if TYPE_CHECKING:
    import git

    from migrepo.store.reader import RevisionFile

FileState = Literal["committed", "modified", "staged", "untracked"]

# Paths are file names, not pathspec patterns.
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}
_FULL_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def file_states(repo: git.Repo, relpaths: Iterable[str]) -> dict[str, FileState]:
    """The state of each path (relative to the work tree) against HEAD.

    ``committed``: HEAD has the file and neither the index nor the work tree
    changes it. ``modified``: HEAD has it, and the index or the work tree
    differs. ``staged``: HEAD has no file at this path, the index has one
    (``git add``, or a merge in progress that brings it). ``untracked``:
    neither has it (new, or ignored).
    """
    paths = list(dict.fromkeys(relpaths))
    if not paths:
        return {}
    # Ask about the folders, not each file: the command line stays short.
    folders = sorted({posixpath.dirname(path) or "." for path in paths})
    with wrap_errors("read the status of the revision files"):
        # Unmerged paths are listed too, once per stage.
        in_index = _nul_set(repo.git.ls_files("-z", "--", *folders, env=_LITERAL))
    if _head_sha(repo) is None:
        return {path: "staged" if path in in_index else "untracked" for path in paths}
    with wrap_errors("read the status of the revision files"):
        in_head = _nul_set(
            repo.git.ls_tree("-r", "-z", "--name-only", "HEAD", "--", *folders, env=_LITERAL)
        )
        changed = _nul_set(
            repo.git.diff("HEAD", "--name-only", "-z", "--no-renames", "--", *folders,
                          env=_LITERAL)
        )
    states: dict[str, FileState] = {}
    for path in paths:
        if path not in in_head:
            states[path] = "staged" if path in in_index else "untracked"
        elif path in changed:
            states[path] = "modified"
        else:
            states[path] = "committed"
    return states


def _nul_set(output: str) -> set[str]:
    return {item for item in output.split("\0") if item}


def file_history(
    repo: git.Repo, path: str | os.PathLike[str]
) -> tuple[CommitInfo | None, CommitInfo | None]:
    """``(introduced_in, last_changed_in)`` of a file, following renames, from one ``git log``.

    Only commits reachable from HEAD count. ``--topo-order`` lists every
    commit before its parents, so the first one listed is the last to change
    (or rename) the file. Walking back, the file was introduced by the commit
    that added it (status ``A``) or created it as a copy (``C``): ``--follow``
    also follows copies, and revision files written from one template look
    like copies of each other, so the history of the file it was "copied"
    from is not the history of this one.
    """
    relpath = relative_path(repo, path)
    if relpath is None or _head_sha(repo) is None:
        return None, None
    with wrap_errors(f"read the history of {relpath}"):
        output = repo.git.log(
            "--follow", "--topo-order", "--name-status", "--no-color", "--no-show-signature",
            "--format=%x01%H%x00%aN <%aE>%x00%aI%x00%s", "--", relpath, env=_LITERAL,
        )
    introduced = last_changed = None
    for entry in output.split("\x01")[1:]:
        header, *changes = entry.split("\n")
        commit = _commit_info(header)
        last_changed = last_changed or commit
        introduced = commit
        # A merge that changed the file lists no status: it is a change.
        status = next((line[:1] for line in changes if line), "M")
        if status in ("A", "C"):
            break
    return introduced, last_changed


def introduced_in(repo: git.Repo, path: str | os.PathLike[str]) -> CommitInfo | None:
    """The commit that first added the file, following renames; None if no commit has it."""
    return file_history(repo, path)[0]


def last_changed_in(repo: git.Repo, path: str | os.PathLike[str]) -> CommitInfo | None:
    """The last commit that changed (or renamed) the file; None if no commit has it."""
    return file_history(repo, path)[1]


def _commit_info(line: str) -> CommitInfo:
    # Names follow .mailmap (%aN, %aE), as in `git blame` and `git shortlog`.
    sha, author, date, subject = line.split("\0", 3)
    return CommitInfo(sha, author, date, subject)


def read_blob(repo: git.Repo, blob_hash: str) -> bytes | None:
    """The bytes of a blob in git's object database, from any commit or branch.

    None when the database has no blob with that (full) hash.
    """
    if not _FULL_HASH.fullmatch(blob_hash.lower()):
        return None
    (found,) = cat_file(repo, "--batch", [blob_hash.lower()], f"read blob {blob_hash}")
    if found is None:
        return None
    header, _, data = found.partition(b"\n")
    return data if header.split(b" ")[1] == b"blob" else None


def commits_and_branches_with(
    repo: git.Repo, relpath: str, limit: int = 5
) -> tuple[list[str], list[str]]:
    """Where git holds a file at ``relpath`` (relative to the work tree root).

    Returns the newest ``limit`` commits, on any branch, that added or changed
    a file at that path, and the local and remote-tracking branches whose tip
    has a file there, sorted by name.
    """
    import git

    with wrap_errors(f"find the commits that hold {relpath}"):
        if not repo.references:
            return [], []
        output = repo.git.log(
            # Commits that leave a file at the path: not deletions (D), nor unmerged (U).
            "--all", "--diff-filter=ACMRT", f"--max-count={limit}", "--format=%H",
            "--", relpath, env=_LITERAL,
        )
        candidates = [
            ref
            for ref in repo.references
            if isinstance(ref, git.Head | git.RemoteReference) and not ref.name.endswith("/HEAD")
        ]
    if "\n" in relpath:  # no line of cat-file's input can name it
        return output.split(), []
    found = cat_file(
        repo, "--batch-check", [f"{ref.path}:{relpath}" for ref in candidates],
        f"find the branches that hold {relpath}",
    )
    branches = [
        ref.name
        for ref, header in zip(candidates, found, strict=True)
        if header is not None and header.split(b" ")[1] == b"blob"
    ]
    return output.split(), sorted(branches)


# --- blame -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlameRow:
    """Where one revision file came from: its content hash and, in git, its commits."""

    revision: str
    path: str  # relative to the work tree root in git, else as read
    content_hash: str  # git blob hash of the file as it is on disk
    introduced_in: CommitInfo | None
    last_changed_in: CommitInfo | None
    state: FileState | None  # None outside a git work tree
    # In a shallow clone: the boundary commit, when the file was there already and
    # the commits that added (and maybe last changed) it are cut off.
    history_cut_off_at: CommitInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        def commit(info: CommitInfo | None) -> dict[str, str] | None:
            return None if info is None else info.to_dict()

        return {
            "revision": self.revision,
            "path": self.path,
            "content_hash": self.content_hash,
            "introduced_in": commit(self.introduced_in),
            "last_changed_in": commit(self.last_changed_in),
            "state": self.state,
            "history_cut_off_at": commit(self.history_cut_off_at),
        }


@dataclass(frozen=True, slots=True)
class Blame:
    rows: list[BlameRow]
    work_tree: str | None  # the git work tree's root; None outside git
    # A shallow clone's boundary commits: git's history stops there.
    shallow_boundary: tuple[CommitInfo, ...] = ()
    # Why git could not be read (dubious ownership, ...), when it could not.
    git_error: str | None = None


def blame_without_git(files: Sequence[RevisionFile], reason: str) -> Blame:
    """The content hashes alone, for when git refuses the work tree."""
    return Blame([_row(found, str(found.path)) for found in files], None, git_error=reason)


def blame(
    files: Sequence[RevisionFile],
    start: str | os.PathLike[str],
    locations: Sequence[str | os.PathLike[str]] = (),
) -> Blame:
    """A :class:`BlameRow` per revision file, in the order given.

    ``start`` (the migrations directory) picks the git work tree and keeps
    the walk's cache. ``locations`` are the version locations: one walk of
    their history (see :mod:`migrepo.audit.walk`) answers for every file;
    without them, the folders of ``files``. Outside a git work tree, or for
    a file outside it, the git fields are None. A file HEAD does not have is
    not looked up in the history: any commits at its path were another file.
    """
    from migrepo.audit import walk

    repo = open_repo(start)
    if repo is None:
        return Blame([_row(found, str(found.path)) for found in files], None)
    with repo:
        relpaths = relative_paths(repo, [found.path for found in files])
        states = file_states(repo, [rel for rel in relpaths.values() if rel is not None])
        folders = [relative_path(repo, location) for location in locations] or [
            posixpath.dirname(rel) or "." for rel in relpaths.values() if rel is not None
        ]
        needed = any(state in ("committed", "modified") for state in states.values())
        found_history = None
        if needed:
            found_history = walk.history(
                repo, [folder for folder in folders if folder is not None], start
            )
        boundary = walk.shallow_boundary(repo)
        missing = [
            sha for sha in boundary if found_history is None or not found_history.knows(sha)
        ]
        infos = walk.commit_infos(repo, missing) if missing else {}
        if found_history is not None:
            infos.update((sha, found_history.info(sha)) for sha in boundary if sha not in infos)
        rows = []
        for found in files:
            rel = relpaths[found.path]
            if rel is None:
                rows.append(_row(found, str(found.path)))
                continue
            state = states[rel]
            if found_history is None or state not in ("committed", "modified"):
                rows.append(_row(found, rel, state=state))
                continue
            known = found_history.of(rel)
            rows.append(
                _row(found, rel, known.introduced_in, known.last_changed_in, state,
                     known.cut_off_at)
            )
        shallow = tuple(infos.get(sha) or CommitInfo(sha, "", "", "") for sha in boundary)
        return Blame(rows, str(work_tree(repo)), shallow)


def _row(
    found: RevisionFile,
    path: str,
    introduced: CommitInfo | None = None,
    last_changed: CommitInfo | None = None,
    state: FileState | None = None,
    cut_off_at: CommitInfo | None = None,
) -> BlameRow:
    assert found.record is not None
    return BlameRow(
        found.record.revision, path, found.blob, introduced, last_changed, state, cut_off_at
    )
