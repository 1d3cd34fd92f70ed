"""Whether revision files have left this clone: what ``flask db rebase`` asks git.

A revision is *published* once a remote-tracking branch holds it: others may
have pulled and applied it, so its parent must not change. It is on the
*main line* when the commit that introduced its file is on HEAD's
first-parent history: it came with the branch checked out, not with a
merged-in one.

GitPython is imported inside the functions (through
:mod:`migrepo.audit.gitrepo`), and git failures are raised as
:class:`~migrepo.errors.GitError`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrepo.audit import gitrepo as _git

if TYPE_CHECKING:
    import git

# Paths are file names, not pathspec patterns.
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where git has one revision file."""

    path: str  # relative to the work tree root
    introduced_in: _git.CommitInfo | None  # from HEAD's history; None if HEAD lacks the file
    remote_branches: tuple[str, ...]  # remote-tracking branches holding it, sorted
    on_main_line: bool  # introduced by a commit on HEAD's first-parent history


def provenance(
    paths: Sequence[str | os.PathLike[str]],
    start: str | os.PathLike[str],
    locations: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Provenance] | None:
    """A :class:`Provenance` per path (keyed by ``os.fspath(path)``); None outside git.

    ``start`` (the migrations directory) picks the work tree and keeps the
    walk's cache; the commit that introduced each file comes from the one
    cached walk of the version ``locations`` (:mod:`migrepo.audit.walk`),
    as for ``flask db blame``. A path outside the work tree is left out.
    """
    from migrepo.audit import walk

    repo = _git.open_repo(start)
    if repo is None:
        return None
    with repo:
        relpaths = _git.relative_paths(repo, paths)
        folders = [_git.relative_path(repo, location) for location in locations] or [
            posixpath.dirname(rel) or "." for rel in relpaths.values() if rel is not None
        ]
        history = walk.history(repo, [folder for folder in folders if folder is not None], start)
        main_line = first_parent_commits(repo)
        found: dict[str, Provenance] = {}
        for path, relpath in relpaths.items():
            if relpath is None:
                continue
            introduced = None if history is None else history.of(relpath).introduced_in
            found[os.fspath(path)] = Provenance(
                relpath,
                introduced,
                remote_branches_with(repo, relpath, introduced),
                introduced is not None and introduced.sha in main_line,
            )
        return found


def first_parent_commits(repo: git.Repo) -> set[str]:
    """The commits of HEAD's first-parent history (``git rev-list --first-parent HEAD``)."""
    if _git.head(repo)[0] is None:
        return set()
    with _git.wrap_errors("list HEAD's first-parent history"):
        return set(repo.git.rev_list("--first-parent", "HEAD").split())


def remote_branches_with(
    repo: git.Repo, relpath: str, introduced: _git.CommitInfo | None
) -> tuple[str, ...]:
    """The remote-tracking branches that hold the file at ``relpath``.

    A branch holds it when it contains the commit that introduced it (even if
    the file was renamed since), or any commit that touched that path: the
    latter also finds a file merged in but not yet committed here, or
    cherry-picked onto a remote branch.
    """
    commits = [introduced.sha] if introduced is not None else []
    with _git.wrap_errors(f"find the remote branches that hold {relpath}"):
        touched = repo.git.log(
            "--remotes", "--max-count=1", "--format=%H", "--", relpath, env=_LITERAL
        ).split()
        branches: set[str] = set()
        for sha in dict.fromkeys([*commits, *touched]):
            output = repo.git.branch("--remotes", "--contains", sha, "--format=%(refname)")
            branches.update(
                ref.removeprefix("refs/remotes/")
                for ref in output.split()
                if not ref.endswith("/HEAD")
            )
    return tuple(sorted(branches))
