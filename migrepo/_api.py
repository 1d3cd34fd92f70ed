"""Flask-Migrate's API functions, with its names, parameters and defaults.

Like Flask-Migrate's, they print what Alembic prints, and a failure exits with
status 1. The failure prints ``Error: ...`` on stderr, as ``flask db`` does
(see :func:`_exit_on_error`). Each is a thin shell that fills the command's
options object (:mod:`migrepo.engine.options`) and calls the function of the
same name in :mod:`migrepo.engine.commands` (or :mod:`migrepo.engine.views`),
which raises instead.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from migrepo.engine import commands as _commands
from migrepo.engine import init as _init
from migrepo.engine import views as _views
from migrepo.errors import MigrepoError

P = ParamSpec("P")
R = TypeVar("R")
Directory = str | os.PathLike[str] | None


def _exit_on_error(f: Callable[P, R]) -> Callable[P, R]:
    """Print ``Error: <one line>`` on stderr and exit 1, as ``flask db`` does.

    The errors Flask-Migrate's functions catch (Alembic's ``CommandError`` and
    ``RuntimeError``) are caught, plus migrepo's own and Alembic's revision
    errors; anything else propagates, as it does from Flask-Migrate.
    """
    signature = inspect.signature(f)

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        from migrepo.engine.explain import explain

        try:
            return f(*args, **kwargs)
        except (MigrepoError, CommandError, RevisionError, RuntimeError) as exc:
            directory = signature.bind_partial(*args, **kwargs).arguments.get("directory")
            error = explain(exc, directory=directory, command=f.__name__)
            print(f"Error: {error}", file=sys.stderr)
            sys.exit(1)

    return wrapper


@_exit_on_error
def list_templates() -> None:
    """List the available migration repository templates."""
    print("Available templates:\n")
    for name, summary in _init.list_templates():
        print(f"{name} - {summary}")


@_exit_on_error
def init(
    directory: Directory = None,
    multidb: bool = False,
    template: str | None = None,
    package: bool = False,
) -> None:
    """Create a new migrations directory."""
    from migrepo.engine import options as o

    _init.init(options=o.InitOptions(directory, multidb, template, package))


@_exit_on_error
def revision(
    directory: Directory = None,
    message: str | None = None,
    autogenerate: bool = False,
    sql: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | None = None,
    version_path: str | None = None,
    rev_id: str | None = None,
) -> None:
    """Create a new revision file."""
    from migrepo.engine import options as o

    _commands.revision(
        options=o.RevisionOptions(
            directory, message, autogenerate, sql, head, splice, branch_label, version_path, rev_id
        )
    )


@_exit_on_error
def migrate(
    directory: Directory = None,
    message: str | None = None,
    sql: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | None = None,
    version_path: str | None = None,
    rev_id: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> None:
    """Autogenerate a new revision file (``revision --autogenerate``)."""
    from migrepo.engine import options as o

    _commands.revision(
        options=o.RevisionOptions(
            directory, message, True, sql, head, splice, branch_label, version_path, rev_id, x_arg
        )
    )


@_exit_on_error
def edit(directory: Directory = None, revision: str = "current") -> None:
    """Edit a revision file in $EDITOR."""
    from migrepo.engine import options as o

    _commands.edit(options=o.EditOptions(directory, revision))


@_exit_on_error
def merge(
    directory: Directory = None,
    revisions: str | list[str] | tuple[str, ...] = "",
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
) -> None:
    """Merge two or more revisions into a new revision file."""
    from migrepo.engine import options as o

    _commands.merge(options=o.MergeOptions(directory, revisions, message, branch_label, rev_id))


@_exit_on_error
def upgrade(
    directory: Directory = None,
    revision: str = "head",
    sql: bool = False,
    tag: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> None:
    """Upgrade the database to a later revision."""
    from migrepo.engine import options as o

    _commands.upgrade(options=o.MoveOptions(directory, revision, sql, tag, x_arg=x_arg))


@_exit_on_error
def downgrade(
    directory: Directory = None,
    revision: str = "-1",
    sql: bool = False,
    tag: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> None:
    """Revert the database to an earlier revision."""
    from migrepo.engine import options as o

    _commands.downgrade(options=o.MoveOptions(directory, revision, sql, tag, x_arg=x_arg))


@_exit_on_error
def show(directory: Directory = None, revision: str = "head") -> None:
    """Show the revision denoted by the given symbol."""
    from migrepo.engine import options as o

    _commands.show(options=o.ShowOptions(directory, revision))


@_exit_on_error
def history(
    directory: Directory = None,
    rev_range: str | None = None,
    verbose: bool = False,
    indicate_current: bool = False,
) -> None:
    """List the revisions, newest first."""
    _views.history(
        directory, rev_range=rev_range, verbose=verbose, indicate_current=indicate_current
    )


@_exit_on_error
def heads(
    directory: Directory = None, verbose: bool = False, resolve_dependencies: bool = False
) -> None:
    """Show the heads of the revision graph."""
    from migrepo.engine import options as o

    _commands.heads(options=o.HeadsOptions(directory, verbose, resolve_dependencies))


@_exit_on_error
def branches(directory: Directory = None, verbose: bool = False) -> None:
    """Show the branch points of the revision graph."""
    from migrepo.engine import options as o

    _commands.branches(options=o.BranchesOptions(directory, verbose))


@_exit_on_error
def current(directory: Directory = None, verbose: bool = False, head_only: bool = False) -> None:
    """Show the revision the database is at. ``head_only`` is accepted and ignored."""
    from migrepo.engine import options as o

    _commands.current(options=o.CurrentOptions(directory, verbose))


@_exit_on_error
def stamp(
    directory: Directory = None,
    revision: str | list[str] | tuple[str, ...] = "head",
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
) -> None:
    """Set the database's revision without running migrations."""
    from migrepo.engine import options as o

    _commands.stamp(options=o.StampOptions(directory, revision, sql, tag, purge))


@_exit_on_error
def check(directory: Directory = None) -> None:
    """Exit with status 1 when the models and the database differ."""
    from migrepo.engine import options as o

    _commands.check(options=o.CheckOptions(directory))


__all__ = [
    "branches",
    "check",
    "current",
    "downgrade",
    "edit",
    "heads",
    "history",
    "init",
    "list_templates",
    "merge",
    "migrate",
    "revision",
    "show",
    "stamp",
    "upgrade",
]

