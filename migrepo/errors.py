"""Exceptions raised by migrepo.

Every error migrepo raises on purpose derives from :class:`MigrepoError`.
The exceptions carry data; the ``flask db`` command layer turns each one
into a single line written for the user (see ``migrepo.cli``)::

    MigrepoError
    ├── UsageError               a bad argument or option value
    ├── AppContextError          no Flask app context, or no extension on it
    ├── RepositoryError          the migrations directory is missing or unusable
    │   ├── DatabaseAhead        the database is at a revision the work tree lacks
    │   └── RebaseRefused        a rebase would move revisions that ran, were pushed, or branch
    ├── DatabaseError            the database could not be reached or refused a step
    │   ├── LockTimeout          another migration run held the lock for too long
    │   └── DirtyDatabase        a revision failed part-way: resolve it first
    ├── GitError                 git failed while reading the work tree or its history
    └── GraphError               the revision graph is unsound
        ├── UnknownRevision      a revision or label that is not in the graph
        ├── MultipleHeads        one head was needed and there are several
        ├── MissingParent        a revision names a parent that has no file
        ├── DuplicateRevision    two files declare the same revision id
        ├── DuplicateBranchLabel a branch label that names more than one revision
        ├── CycleDetected        the down-revision links form a cycle
        └── RevisionFileError    a revision file that cannot be read

Alembic's exceptions, and everything else a command can raise, become one of
these in one place: :func:`migrepo.engine.explain.explain`.
"""

from __future__ import annotations

from collections.abc import Iterable


class MigrepoError(Exception):
    """Base class of every error migrepo raises on purpose.

    ``str(error)`` is the one-line message shown to the user: it names what is
    wrong and, where there is one, the fix.
    """


class UsageError(MigrepoError):
    """An argument or option value that migrepo cannot accept."""


class AppContextError(MigrepoError):
    """Raised when a migrepo function runs without a usable Flask app."""


class RepositoryError(MigrepoError):
    """The migrations directory is missing, or is not an Alembic environment."""


class DatabaseAhead(RepositoryError):
    """The database is at revisions that have no file in this work tree.

    :func:`migrepo.engine.explain.explain` says where they came from and the way out.
    """

    def __init__(self, revisions: Iterable[str]) -> None:
        self.revisions = tuple(sorted(revisions))
        super().__init__(
            f"the database is at {', '.join(self.revisions)}, which this work tree does not "
            "have; run `flask db sync` to bring the database to this work tree's heads"
        )


class RebaseRefused(RepositoryError):
    """``flask db rebase`` would move a revision that is applied or already pushed, or a
    branch that is not a plain line of revisions; the message names each reason."""


class DatabaseError(MigrepoError):
    """The database could not be reached, or refused a migration step.

    The message never contains a password.
    """


class LockTimeout(DatabaseError):
    """Another migration run still held the migration lock when the wait ran out."""

    def __init__(self, lock: str, timeout: float | None) -> None:
        self.lock = lock
        self.timeout = timeout
        waited = f" after {timeout:g} s" if timeout is not None else ""
        super().__init__(
            f"another migration run still holds the lock ({lock}){waited}; "
            "try again later, or raise --lock-timeout (MIGREPO_LOCK_TIMEOUT)"
        )


class DirtyDatabase(DatabaseError):
    """A revision failed part-way on a database without transactional DDL.

    Raised by ``upgrade`` until ``flask db resolve`` records how it was repaired.
    """

    def __init__(self, revisions: Iterable[str]) -> None:
        self.revisions = tuple(sorted(set(revisions)))
        super().__init__(
            f"the database is dirty: revision {', '.join(self.revisions)} failed part-way; "
            "see `flask db status`, repair the database by hand, then record it with "
            "`flask db resolve REV --applied` or `--rolled-back`"
        )


class GitError(MigrepoError):
    """git failed while reading the work tree or its history (the cause is GitPython's error)."""


class GraphError(MigrepoError):
    """Base class of the errors about the shape of the revision graph."""


class UnknownRevision(GraphError):
    def __init__(self, argument: str) -> None:
        self.argument = argument
        super().__init__(
            f"no revision matches {argument!r}; run `flask db history` to list the revisions"
        )


class MultipleHeads(GraphError):
    """``hint`` is the way on for the command at hand (default: merge, or name one)."""

    def __init__(self, heads: Iterable[str], hint: str | None = None) -> None:
        self.heads = tuple(heads)
        hint = hint or "run `flask db merge heads` to join them, or name one head"
        super().__init__(f"there are {len(self.heads)} heads ({', '.join(self.heads)}); {hint}")


class MissingParent(GraphError):
    """A ``down_revision`` (or, with ``field="depends_on"``, a dependency) with no file."""

    def __init__(
        self, revision: str, parent: str, path: str | None = None, field: str = "down_revision"
    ) -> None:
        self.revision = revision
        self.parent = parent
        self.path = path
        self.field = field
        where = f" in {path}" if path else ""
        kind = "parent" if field == "down_revision" else "dependency"
        super().__init__(
            f"revision {revision}{where} names {kind} {parent}, which has no file; "
            f"restore that file or fix {field}"
        )


class DuplicateRevision(GraphError):
    def __init__(self, revision: str, paths: Iterable[str]) -> None:
        self.revision = revision
        self.paths = tuple(paths)
        super().__init__(
            f"revision id {revision} is declared by more than one file: "
            f"{', '.join(self.paths)}; give one of them a new id"
        )


class DuplicateBranchLabel(GraphError):
    def __init__(self, label: str, revisions: Iterable[str]) -> None:
        self.label = label
        self.revisions = tuple(revisions)
        super().__init__(
            f"branch label {label!r} names more than one revision "
            f"({', '.join(self.revisions)}); rename the label in one of them"
        )


class CycleDetected(GraphError):
    def __init__(self, revisions: Iterable[str]) -> None:
        self.revisions = tuple(revisions)
        super().__init__(
            f"the revision links form a cycle: {' -> '.join(self.revisions)}; "
            "break it by fixing down_revision or depends_on in one of these files"
        )


class RevisionFileError(GraphError):
    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"cannot read revision file {where}: {reason}")
