"""The git work tree of a migrations directory, and its HEAD, through GitPython.

The lowest layer of :mod:`migrepo.audit`: opening the repository that holds a
path, naming paths as git does, reading HEAD and whether the work tree is
dirty, the :class:`CommitInfo` of a commit, and :func:`wrap_errors`, which
turns every GitPython failure into a :class:`~migrepo.errors.GitError` whose
cause is GitPython's exception. :mod:`migrepo.audit.gitrepo` (file state,
history, blame) and :mod:`migrepo.audit.walk` build on it.

Objects are read with :func:`cat_file`, one ``git cat-file`` process per
call, never through GitPython's object database (``repo.odb``, ``Commit``,
``Tree``): that starts a persistent ``git cat-file`` that GitPython before
3.2.1 leaks when git refuses the repository. The repositories
:func:`open_repo` returns also stop such a process themselves when closed
(:func:`_stop_persistent`), should anything start one.

GitPython is imported inside the functions, never at module import.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrepo.errors import GitError

if TYPE_CHECKING:
    import git


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit, as ``git log`` describes it."""

    sha: str
    author: str  # "Name <email>"
    date: str  # author date, ISO 8601 with offset
    subject: str

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    def to_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "author": self.author, "date": self.date, "subject": self.subject}


@contextmanager
def wrap_errors(action: str) -> Iterator[None]:
    """Turn GitPython's exceptions into :class:`GitError`, keeping them as the cause."""
    import git

    try:
        yield
    except (git.GitError, ValueError, OSError) as exc:
        # GitCommandError keeps git's stderr as "\n  stderr: '...'".
        detail = re.sub(r"^\s*stderr: '(.*)'\s*$", r"\1", getattr(exc, "stderr", ""), flags=re.S)
        line = " ".join((detail or str(exc)).split()) or type(exc).__name__
        raise GitError(f"git could not {action}: {line}") from exc


def open_repo(path: str | os.PathLike[str]) -> git.Repo | None:
    """The git work tree holding ``path``, or None outside one (or without git).

    The caller closes the repo (``repo.close()``, or ``with open_repo(...)``);
    closing it never leaves a git process or a pipe behind.
    """
    try:
        import git
    except ImportError:  # GitPython could not find a git executable
        return None
    start = Path(path).absolute()
    while not start.is_dir() and start != start.parent:
        start = start.parent
    try:
        repo = _repo_class()(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    except (git.GitError, OSError) as exc:
        raise GitError(f"git could not open the repository holding {start}: {exc}") from exc
    if repo.bare or repo.working_tree_dir is None:
        repo.close()
        return None
    return repo


def work_tree(repo: git.Repo) -> Path:
    """The root of the work tree, with symbolic links resolved."""
    assert repo.working_tree_dir is not None
    return Path(repo.working_tree_dir).resolve()


def relative_path(repo: git.Repo, path: str | os.PathLike[str]) -> str | None:
    """``path`` as git names it (relative to the work tree, '/'-separated), or None outside."""
    try:
        inside = Path(path).resolve().relative_to(work_tree(repo))
    except ValueError:
        return None
    return inside.as_posix()


def relative_paths(
    repo: git.Repo, paths: Iterable[str | os.PathLike[str]]
) -> dict[str | os.PathLike[str], str | None]:
    """:func:`relative_path` of many files, resolving each folder once, not each file.

    A file that is itself a symbolic link keeps its own name, as git tracks it.
    String operations, not pathlib: this runs for every revision file.
    """
    root = str(work_tree(repo))
    folders: dict[str, str | None] = {}
    found: dict[str | os.PathLike[str], str | None] = {}
    for path in paths:
        parent, name = os.path.split(os.path.abspath(os.fspath(path)))
        if parent not in folders:
            real = os.path.realpath(parent)
            if real == root:
                folders[parent] = ""
            elif real.startswith(root.rstrip(os.sep) + os.sep):
                folders[parent] = Path(real[len(root.rstrip(os.sep)) + 1:]).as_posix() + "/"
            else:
                folders[parent] = None
        folder = folders[parent]
        found[path] = None if folder is None else folder + name
    return found


def head(repo: git.Repo) -> tuple[str | None, bool]:
    """The HEAD commit (None on a branch with no commit yet) and whether the work tree is dirty.

    Untracked files do not make it dirty.
    """
    sha = _head_sha(repo)
    with wrap_errors("compare the work tree with HEAD"):
        return sha, repo.is_dirty(untracked_files=False)


def _head_sha(repo: git.Repo) -> str | None:
    import git

    # One `git rev-parse`, not `repo.head.commit`: that starts a persistent
    # `git cat-file`, and GitPython before 3.2.1 leaks it (an unclosed pipe and
    # an unreaped process) when git refuses the repository, as it does under
    # "dubious ownership". This runs on the upgrade path, so it must not leak.
    with wrap_errors("read HEAD"):
        try:
            sha: str = repo.git.rev_parse("--verify", "--quiet", "HEAD^{commit}")
            return sha
        except git.GitCommandError as exc:
            if exc.status != 1 or repo.head.is_detached:
                raise
        # HEAD names a branch: unborn when that branch has no commit yet (exit 1),
        # broken when it names a commit git does not have (exit 0).
        ref = repo.head.reference.path
        try:
            repo.git.show_ref("--verify", "--quiet", ref)
        except git.GitCommandError as exc:
            if exc.status == 1:
                return None
            raise
        raise GitError(f"git could not read HEAD: {ref} names a commit git cannot read")


def cat_file(
    repo: git.Repo, option: str, requests: Sequence[str], action: str = "read git's objects"
) -> list[bytes | None]:
    """``git cat-file --batch`` or ``--batch-check`` for each request, in one process.

    A request is an object name (a full hash, ``<commit>:<path>``...) on one
    line. The answer is, for each, the object's header (``--batch-check``:
    ``b"<hash> <type> <size>"``) or header and content (``--batch``), or None
    when git has no such object. The process ends with the call, so a
    repository git refuses raises :class:`~migrepo.errors.GitError` (``git
    could not <action>: ...``) and leaves nothing running.
    """
    if not requests:
        return []
    if option not in ("--batch", "--batch-check") or any("\n" in r for r in requests):
        raise ValueError(f"not a cat-file request: {option} {requests!r}")
    # The requests go through a file: GitPython's one-shot calls take stdin as a file.
    with tempfile.TemporaryFile() as stdin:
        stdin.write("".join(f"{request}\n" for request in requests).encode())
        stdin.seek(0)
        with wrap_errors(action):
            output: bytes = repo.git.cat_file(
                option, istream=stdin, stdout_as_string=False, strip_newline_in_stdout=False
            )
    answers: list[bytes | None] = []
    at = 0
    for _ in requests:
        end = output.index(b"\n", at)
        header = output[at:end]
        at = end + 1
        fields = header.split(b" ")
        if len(fields) != 3 or not fields[2].isdigit():  # "<name> missing", "ambiguous"...
            answers.append(None)
            continue
        if option == "--batch":
            size = int(fields[2])
            answers.append(header + b"\n" + output[at:at + size])
            at += size + 1  # the content, and the newline after it
        else:
            answers.append(header)
    return answers


@functools.cache
def _repo_class() -> type[git.Repo]:
    import git

    class Repo(git.Repo):
        """A ``git.Repo`` whose close() ends GitPython's persistent git processes cleanly."""

        def close(self) -> None:
            _stop_persistent(self.git)
            super().close()

    return Repo


def _stop_persistent(runner: Any) -> None:
    """End GitPython's persistent ``git cat-file`` processes: close every pipe, reap them.

    For GitPython < 3.2.1 (the lower bound is 3.1.40), whose
    ``Git.AutoInterrupt._terminate`` closes stdin first: when git has
    already exited (it refused the repository: dubious ownership, an object
    format it cannot read), flushing the request still buffered there raises
    BrokenPipeError, so stdout and stderr stay open, the process is never
    reaped (ResourceWarnings), and ``Repo.close()`` raises. GitPython 3.2.1
    closes them as done here, so this only runs its steps first.

    The one place migrepo reaches into GitPython's internals: the
    ``cat_file_all`` and ``cat_file_header`` attributes of ``git.Git``, each
    None or an ``AutoInterrupt`` whose ``proc`` is the ``subprocess.Popen``.
    """
    for name in ("cat_file_all", "cat_file_header"):
        command: Any = getattr(runner, name, None)
        proc = getattr(command, "proc", None)
        if proc is None:
            continue
        command.proc = None  # GitPython's own terminate now has nothing to do
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # BrokenPipeError: git is gone already
                    pipe.close()
        with contextlib.suppress(OSError):
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
