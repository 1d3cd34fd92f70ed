"""Turning every error into one line: the only place the CLI handles exceptions.

migrepo's own errors, Alembic's ``CommandError``, database errors and errors
raised by code in the migrations directory all become ``Error: <one line>``
with exit status 1 (2 for a usage error). ``--traceback`` or
``MIGREPO_TRACEBACK=1`` prints the traceback as well.
"""

from __future__ import annotations

import os
import re
import traceback
import warnings
from typing import Any

import click
from flask.cli import AppGroup

from migrepo._text import mask_passwords, printable
from migrepo.cli._options import group_options, pick_directory
from migrepo.engine import commands as _commands
from migrepo.engine import repository as _repository


def describe(exc: BaseException, migrations: str | None = None) -> str:
    """One line saying what went wrong.

    For an error raised by code in the ``migrations`` directory (a revision
    file or env.py), the line ends with that code's ``file:line``.
    """
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    known = _known_error_types()
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        message = f"database error: {_first_line(str(exc.orig))}"
    elif isinstance(exc, SQLAlchemyError):
        message = f"database error: {_first_line(str(exc))}"
    elif isinstance(exc, SyntaxError):
        message = f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}"
    elif isinstance(exc, known):
        message = _reworded(_first_line(str(exc)))
    else:
        message = f"{type(exc).__name__}: {_first_line(str(exc))}"
    if migrations is not None and not isinstance(exc, (*known, SyntaxError)):
        revision = _revision_in(exc, migrations)
        if revision:
            message = f"revision {revision} failed: {message}"
        where = _location_in(exc, migrations)
        if where:
            message = f"{message} (at {where})"
    # Messages quote the database (alembic_version, the ledger) and git: no raw escapes.
    return printable(mask_passwords(message))


def _known_error_types() -> tuple[type[BaseException], ...]:
    from alembic.util import CommandError

    from migrepo.errors import MigrepoError

    return (MigrepoError, CommandError)


# Alembic's terse revision errors, reworded to name the problem.
_REWORDED = [
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
]


# Alembic only warns about these, then fails with a KeyError or lets the later file win.
_MISSING_PARENT = r"Revision \S+ referenced from .* is not present"


_DUPLICATE_ID = r"Revision \S+ is present more than once"


# Writing a revision stays possible beside a duplicate id, as in Alembic: the new
# file's HEADS update is what fails, with a warning (see _commands._record_heads).
_WRITERS = frozenset({"revision", "migrate", "merge"})


def _reworded(message: str) -> str:
    for pattern, text in _REWORDED:
        found = pattern.fullmatch(message)
        if found:
            return text.format(*found.groups())
    return message


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def _revision_in(exc: BaseException, directory: str) -> str | None:
    """The id of the innermost revision file inside ``directory`` whose code raised ``exc``."""
    root = os.path.join(os.path.abspath(directory), "")
    found = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        names = frame.f_globals
        if (
            "down_revision" in names
            and isinstance(names.get("revision"), str)
            and os.path.abspath(frame.f_code.co_filename).startswith(root)
        ):
            found = names["revision"]
        tb = tb.tb_next
    return found


def _location_in(exc: BaseException, directory: str) -> str | None:
    """``file:line`` of the innermost frame that ran a file inside ``directory``."""
    root = os.path.join(os.path.abspath(directory), "")
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if path.startswith(root):
            relative = os.path.relpath(path)
            return f"{path if relative.startswith('..') else relative}:{frame.lineno}"
    return None


class MigrepoCommand(click.Command):
    """A ``flask db`` subcommand: migrepo and Alembic errors become one line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from alembic.util import CommandError

        from migrepo.errors import MigrepoError, UsageError

        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("error", _MISSING_PARENT, UserWarning)
                if self.name not in _WRITERS:
                    warnings.filterwarnings("error", _DUPLICATE_ID, UserWarning)
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UsageError as exc:
            self._maybe_traceback()
            raise click.UsageError(describe(exc), ctx) from exc
        except (MigrepoError, CommandError, Exception) as exc:
            self._maybe_traceback()
            problem = self._graph_problem(ctx, exc)
            if problem is not None:
                raise click.ClickException(describe(problem)) from exc
            raise click.ClickException(describe(exc, self._migrations(ctx))) from exc

    @staticmethod
    def _graph_problem(ctx: click.Context, exc: BaseException) -> BaseException | None:
        """For an error Alembic raised while building its revision map, the graph
        problem behind it, with the files involved; None for any other error."""
        import alembic.script.revision
        from alembic.script.revision import RevisionError

        frames = traceback.extract_tb(exc.__traceback__)
        in_revision_map = bool(frames) and frames[-1].filename == alembic.script.revision.__file__
        if not (
            isinstance(exc, UserWarning | RevisionError)
            or isinstance(exc.__cause__, RevisionError)
            or (isinstance(exc, KeyError) and in_revision_map)
        ):
            return None
        try:
            return _repository.graph_problem(pick_directory(ctx.params.get("directory")))
        except Exception:  # the original error is still worth reporting
            return None

    @staticmethod
    def _migrations(ctx: click.Context) -> str | None:
        try:
            return _commands.resolve_directory(pick_directory(ctx.params.get("directory")))
        except Exception:  # no app or no extension: nothing to point into
            return None

    @staticmethod
    def _maybe_traceback() -> None:
        if group_options().show_traceback:
            traceback.print_exc()


class MigrepoGroup(AppGroup):
    command_class = MigrepoCommand
