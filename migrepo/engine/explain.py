"""The error policy: every exception a command raises, as one :class:`MigrepoError`.

:func:`explain` is the one place exceptions are translated. ``flask db``
(:mod:`migrepo.cli._errors`) and the Flask-Migrate style API functions
(:mod:`migrepo._api`) print ``Error: <str(error)>`` and exit; nothing else
reads an exception. The rules, in order:

1. migrepo's own errors keep their message.
2. Alembic's revision errors are read from their attributes, whether raised
   as they are or as the ``__cause__`` of the ``CommandError`` that
   Alembic's ScriptDirectory wraps them in: an unknown revision that the
   database is at (the database is ahead of the work tree), several heads
   (with the way on for the command), a cycle.
3. A revision map Alembic could not build (a missing parent or a duplicate
   id, which it only warns about) is read again by migrepo's reader, which
   names the files.
4. An error raised by code in the migrations directory names the revision
   that failed, or the file that could not be read, with ``file:line``.
5. SQLAlchemy's errors are labelled by kind.

Where Alembic gives only text, :data:`_ALEMBIC_TEXT` (and ``_AMBIGUOUS_WALK``)
is the one place that reads it.

Layering: this module sits above the engine's commands (it reads the
database and the graph to explain), and only the CLI and the API functions
import it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from migrepo._origin import innermost_file, locate
from migrepo._text import mask_passwords, printable
from migrepo.errors import (
    CycleDetected,
    DatabaseAhead,
    DatabaseError,
    MigrepoError,
    MultipleHeads,
    RepositoryError,
    RevisionFileError,
    UsageError,
)

if TYPE_CHECKING:
    from alembic.script.revision import RevisionError

Directory = str | os.PathLike[str] | None


def explain(
    exc: BaseException, *, directory: Directory = None, command: str | None = None
) -> MigrepoError:
    """``exc`` as a :class:`MigrepoError` whose ``str()`` is one line for the user.

    ``directory`` is the migrations directory the command ran on (None: the
    app's), and ``command`` the command's name (``upgrade``, ``migrate``...),
    which chooses the hint for several heads. Explaining a database ahead of
    the work tree reads the database and the ledger, so call this inside the
    app context the command ran in. Passwords never show in the message, nor
    control characters (they are escaped).
    """
    error = _explain(exc, directory, command)
    # Messages quote the database (alembic_version, the ledger) and git: no raw escapes.
    masked = printable(mask_passwords(str(error)))
    if masked != str(error):
        error = UsageError(masked) if isinstance(error, UsageError) else MigrepoError(masked)
    return error


def _explain(exc: BaseException, directory: Directory, command: str | None) -> MigrepoError:
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    if isinstance(exc, DatabaseAhead):
        return _database_ahead(directory, exc.revisions[0], known=True) or exc
    if isinstance(exc, MigrepoError):
        return exc
    cause = exc.__cause__ if isinstance(exc, CommandError) else exc
    if isinstance(cause, RevisionError):
        # Failing that, an unsound graph (a branch label used twice, say) is the likelier story.
        found = _from_revision_error(cause, directory, command) or _graph_problem(directory)
        if found is not None:
            return found
    if isinstance(exc, CommandError | RevisionError):
        return MigrepoError(_alembic_text(_first_line(str(exc))))
    if _revision_map_failed(exc):
        problem = _graph_problem(directory)
        if problem is not None:
            return problem
    if isinstance(exc, SyntaxError) and exc.filename:
        return MigrepoError(f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}")
    return _from_code(exc, directory)


# --- Alembic's revision errors -------------------------------------------------


def _from_revision_error(
    err: RevisionError, directory: Directory, command: str | None
) -> MigrepoError | None:
    from alembic.script import revision as alembic_revision

    if isinstance(err, alembic_revision.MultipleHeads):
        return MultipleHeads(err.heads, hint=_HEADS_HINTS.get(command or ""))
    if isinstance(err, alembic_revision.ResolutionError):
        return _database_ahead(directory, err.argument)
    if isinstance(err, alembic_revision.CycleDetected):
        return _graph_problem(directory) or CycleDetected(err.revisions)
    if str(err) == _AMBIGUOUS_WALK:
        return _ambiguous_walk(directory, command)
    return None


_HEADS_HINTS = {
    "upgrade": (
        "run `flask db upgrade heads` to upgrade to all of them, "
        "`flask db upgrade <revision>` for one, or `flask db merge heads` to join them"
    ),
    "revision": (
        "pass `--head <revision>` to build on one of them, "
        "or run `flask db merge heads` to join them first"
    ),
}
_HEADS_HINTS["migrate"] = _HEADS_HINTS["revision"]
_HEADS_HINTS["stamp"] = (
    "run `flask db stamp heads` to stamp all of them, name one, "
    "or run `flask db merge heads` to join them"
)


def _database_ahead(
    directory: Directory, argument: Any, *, known: bool = False
) -> MigrepoError | None:
    """For a revision Alembic cannot find that the database is at: why, and the way out.

    ``known``: the database is known to be at ``argument``; else it is read.
    """
    from migrepo.audit import sync as _sync
    from migrepo.engine import commands as _commands
    from migrepo.engine import log as _log
    from migrepo.engine import repository as _repository

    if not isinstance(argument, str):
        return None
    try:
        run = _commands.new_run(directory)
        if not known and argument not in _repository.database_revisions(run):
            return None
        rows = _log.read_ledger(run, revision=argument)
        path = run.directory
    except Exception:  # the explanation is best effort: Alembic's own message still holds
        return None
    return RepositoryError(_sync.explain_missing(path, argument, _sync.latest_hashes(rows)))


def _ambiguous_walk(directory: Directory, command: str | None) -> MigrepoError:
    """Alembic's "Ambiguous walk": a relative step (``-1``, ``+1``) hit a merge or a branch."""
    generic = MigrepoError(
        "a relative revision (such as -1) is ambiguous here, at a merge or a branch point: "
        "name the revision to go to"
    )
    from migrepo.engine import commands as _commands
    from migrepo.engine import repository as _repository

    try:
        run = _commands.new_run(directory)
        graph = _commands.graph_of(run.config)
        current = [rev for rev in _repository.database_revisions(run) if rev in graph]
    except Exception:  # the explanation is best effort
        return generic
    down = command != "upgrade"
    for start in sorted(current):
        fork = _first_fork(graph, start, down=down)
        if fork is None:
            continue
        if down:
            parents = sorted(graph.predecessors(fork))
            return MigrepoError(
                f"cannot step back one revision at a time past merge revision {fork}: "
                f"it has {len(parents)} parents ({', '.join(parents)}); name the revision "
                f"to go back to, e.g. `flask db downgrade {parents[0]}` (which undoes {fork} "
                "and keeps every parent applied)"
            )
        children = sorted(graph.successors(fork))
        return MigrepoError(
            f"cannot step forward one revision at a time past branch point {fork}: "
            f"it has {len(children)} children ({', '.join(children)}); name the revision "
            f"to go to, e.g. `flask db upgrade {children[0]}`, or run `flask db upgrade heads`"
        )
    return generic


def _first_fork(graph: Any, start: str, *, down: bool) -> str | None:
    """From ``start``, the first revision with several parents (``down``) or children."""
    step = graph.predecessors if down else graph.successors
    seen = set()
    node = start
    while node not in seen:
        seen.add(node)
        following = list(step(node))
        if len(following) > 1:
            return node
        if not following:
            return None
        node = following[0]
    return None


# Alembic raises these as a plain CommandError or RevisionError that carries
# nothing but its text. This table and _AMBIGUOUS_WALK are the one place
# migrepo reads Alembic's message text; each pattern matches the whole first line.
_AMBIGUOUS_WALK = "Ambiguous walk"  # a relative step hit a merge or a branch point
_ALEMBIC_TEXT = [
    (
        re.compile(r"Relative revision -(\d+) didn't produce \d+ migrations"),
        "cannot go {0} revision(s) back from the database's revision: that goes below base",
    ),
    (
        re.compile(r"Relative revision \+(\d+) didn't produce \d+ migrations"),
        "cannot go {0} revision(s) forward from the database's revision: "
        "that goes past the head",
    ),
    (
        re.compile(r"Walked too far"),
        "the relative revision goes past the head or below base",
    ),
    (
        re.compile(r"Range revision not allowed"),
        "a revision range (START:END) is not allowed here: give one revision",
    ),
    (
        re.compile(r"Target database is not up to date\."),
        "Target database is not up to date: run `flask db upgrade` first",
    ),
]


def _alembic_text(message: str) -> str:
    for pattern, text in _ALEMBIC_TEXT:
        found = pattern.fullmatch(message)
        if found:
            return text.format(*found.groups())
    return message


# --- a revision map Alembic could not build ---------------------------------------

# Alembic only warns about these, then fails with a KeyError or lets the later file win.
_MISSING_PARENT = r"Revision \S+ referenced from .* is not present"
_DUPLICATE_ID = r"Revision \S+ is present more than once"

# Writing a revision stays possible beside a duplicate id, as in Alembic: then the new
# file's HEADS update is what fails, with a warning (see commands._record_heads).
_WRITERS = frozenset({"revision", "migrate", "merge"})


@contextmanager
def graph_warnings_as_errors(command: str | None) -> Iterator[None]:
    """Make Alembic's warnings about an unsound graph errors, for one command.

    ``flask db`` runs every command inside this, so that :func:`explain` can
    name the files instead of Alembic's warning followed by a ``KeyError``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("error", _MISSING_PARENT, UserWarning)
        if command not in _WRITERS:
            warnings.filterwarnings("error", _DUPLICATE_ID, UserWarning)
        yield


def _revision_map_failed(exc: BaseException) -> bool:
    """An error Alembic raised while building its revision map (see above)."""
    import alembic.script.revision

    if isinstance(exc, UserWarning):
        return True
    return isinstance(exc, KeyError) and innermost_file(exc) == alembic.script.revision.__file__


def _graph_problem(directory: Directory) -> MigrepoError | None:
    from migrepo.engine import repository as _repository

    try:
        return _repository.graph_problem(directory)
    except Exception:  # the original error is still worth reporting
        return None


# --- code in the migrations directory, and SQLAlchemy ---------------------------


def _from_code(exc: BaseException, directory: Directory) -> MigrepoError:
    message = _labelled(exc)
    try:
        from migrepo.engine import commands as _commands

        migrations: str | None = _commands.resolve_directory(directory)
    except Exception:  # no app or no extension: nothing to point into
        migrations = os.fspath(directory) if directory is not None else None
    origin = locate(exc, migrations)
    error_type = DatabaseError if _is_database_error(exc) else MigrepoError
    if origin is None:
        return error_type(message)
    if origin.loading:
        # Importing the file failed: no migration step ran.
        where, _, line = origin.where.rpartition(":")
        return RevisionFileError(where, int(line), message)
    if origin.revision is not None:
        message = f"revision {origin.revision} failed: {message}"
    return error_type(f"{message} (at {origin.where})")


def _labelled(exc: BaseException) -> str:
    from sqlalchemy.exc import CompileError, DBAPIError, SQLAlchemyError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"database error: {_first_line(str(exc.orig))}"
    if isinstance(exc, CompileError):
        return f"cannot compile SQL for this database: {_first_line(str(exc))}"
    if _is_database_error(exc):
        return f"database error: {_first_line(str(exc))}"
    if isinstance(exc, SQLAlchemyError):
        return f"SQLAlchemy error: {_first_line(str(exc))}"
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _is_database_error(exc: BaseException) -> bool:
    """An error that came from the database or the connection to it."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, DBAPIError | DisconnectionError | PoolTimeout)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
