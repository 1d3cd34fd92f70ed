"""Options shared by the ``flask db`` commands, each declared once.

The group's own options (``flask db -d DIR -x ARG --traceback ...``) are kept
in ``ctx.meta`` for the subcommands, never in ``flask.g``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class GroupOptions:
    """The options given to the group itself, as in ``flask db -d DIR -x K=V upgrade``."""

    directory: str | None = None
    x_args: tuple[str, ...] = ()
    show_traceback: bool = False


def group_options() -> GroupOptions:
    ctx = click.get_current_context()
    found = ctx.meta.get("migrepo")
    return found if isinstance(found, GroupOptions) else GroupOptions()


def pick_directory(value: str | None) -> str | None:
    """A command's ``-d`` wins over the group's, which wins over ``Migrate(directory=)``."""
    return value if value is not None else group_options().directory


def x_args(values: Sequence[str] = ()) -> list[str]:
    """The group's ``-x`` values then the command's, each exactly once."""
    return [*group_options().x_args, *values]


def pass_options(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Fill the command's options object from its click parameters.

    ``name`` is a class of :mod:`migrepo.engine.options`, looked up when the
    command runs, so that creating the app does not build them. The parameters
    named like one of its fields go into it, with the group's ``-d`` and
    ``-x`` merged in; the command receives ``options=`` and the parameters the
    class does not have.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def command(**params: Any) -> Any:
            from migrepo.engine import options

            cls = getattr(options, name)
            names = {field.name for field in dataclasses.fields(cls)}
            values = {key: params.pop(key) for key in list(params) if key in names}
            if "directory" in names:
                values["directory"] = pick_directory(values.get("directory"))
            if "x_arg" in names:
                values["x_arg"] = x_args(values.get("x_arg") or ())
            if values.get("single_transaction") is False:  # a flag left out: the config decides
                values["single_transaction"] = None
            return f(options=cls(**values), **params)

        return command

    return decorate


def directory_option(f: F) -> F:
    return click.option(
        "-d",
        "--directory",
        default=None,
        metavar="DIR",
        help='Migrations directory (default: the one given to Migrate, "migrations").',
    )(f)


def x_arg_option(f: F) -> F:
    return click.option(
        "-x",
        "--x-arg",
        "x_arg",
        multiple=True,
        metavar="ARG",
        help="Extra argument for env.py, read with context.get_x_argument(); repeatable.",
    )(f)


def sql_option(f: F) -> F:
    return click.option(
        "--sql", is_flag=True, help="Print the SQL instead of running it (offline mode)."
    )(f)


def tag_option(f: F) -> F:
    return click.option(
        "--tag", default=None, help="Arbitrary tag for custom env.py scripts."
    )(f)


def lock_timeout_option(f: F) -> F:
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="While another migration run holds the database's migration lock, wait at most "
        "SECONDS, then fail (default: MIGREPO_LOCK_TIMEOUT, else wait until it ends).",
    )(f)


def single_transaction_option(f: F) -> F:
    return click.option(
        "--single-transaction",
        is_flag=True,
        help="Run every revision in one transaction, as Flask-Migrate does (default: one "
        "transaction per revision; also MIGREPO_SINGLE_TRANSACTION = True).",
    )(f)


def verbose_option(f: F) -> F:
    return click.option("-v", "--verbose", is_flag=True, help="Show more detail.")(f)


def revision_options(f: F) -> F:
    """The options ``revision`` and ``migrate`` share."""
    options = [
        click.option("-m", "--message", default=None, help="Revision message."),
        sql_option,
        click.option(
            "--head",
            default="head",
            show_default=True,
            help="Head revision, or <branch>@head, to base the new revision on.",
        ),
        click.option(
            "--splice", is_flag=True, help='Allow a non-head revision as the "head".'
        ),
        click.option("--branch-label", default=None, help="Branch label for the new revision."),
        click.option(
            "--version-path", default=None, help="Version directory to write the file to."
        ),
        click.option(
            "--rev-id", default=None, help="Revision id to use instead of a generated one."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def migration_run_options(f: F) -> F:
    """The options of the commands that move the database both ways: upgrade, downgrade."""
    for option in reversed(
        [
            directory_option,
            sql_option,
            tag_option,
            x_arg_option,
            lock_timeout_option,
            single_transaction_option,
        ]
    ):
        f = option(f)
    return f


def format_option(*choices: str, help: str = "Output format.") -> Callable[[F], F]:
    """``--format``, as ``output_format``; the first choice is the default."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices or ("text", "json")),
        default=(choices or ("text",))[0],
        show_default=True,
        help=help,
    )
