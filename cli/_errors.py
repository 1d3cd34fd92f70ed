"""Printing errors: the only place the CLI handles exceptions.

Every exception a command raises goes through the one error policy,
:func:`migrepo.engine.explain.explain`, and comes out as ``Error: <one line>``
with exit status 1 (2 for a usage error). ``--traceback`` or
``MIGREPO_TRACEBACK=1`` prints the traceback as well.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from migrepo.cli._options import group_options, pick_directory
from migrepo.cli._pipes import exit_quietly_on_broken_pipe


class MigrepoCommand(click.Command):
    """A ``flask db`` subcommand: any error becomes one line, exit 1 (2 for bad usage)."""

    def invoke(self, ctx: click.Context) -> Any:
        from migrepo.engine.explain import explain, graph_warnings_as_errors
        from migrepo.errors import UsageError

        try:
            with graph_warnings_as_errors(self.name):
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            exit_quietly_on_broken_pipe()
        except Exception as exc:
            if group_options().show_traceback:
                traceback.print_exc()
            directory = pick_directory(ctx.params.get("directory"))
            error = explain(exc, directory=directory, command=self.name)
            if isinstance(error, UsageError):
                raise click.UsageError(str(error), ctx) from exc
            raise click.ClickException(str(error)) from exc


class MigrepoGroup(AppGroup):
    command_class = MigrepoCommand


def command(name: str | None = None) -> Callable[[Callable[..., Any]], MigrepoCommand]:
    """A ``flask db`` subcommand, as ``db.command()`` would make it in the group's module:
    a :class:`MigrepoCommand` that runs inside the app context."""

    def decorate(f: Callable[..., Any]) -> MigrepoCommand:
        return click.command(name, cls=MigrepoCommand)(with_appcontext(f))

    return decorate
