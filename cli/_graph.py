"""The commands that read or reshape the revision graph: ``show``, ``history``,
``heads``, ``branches`` and ``rebase``.

The ``db`` group in :mod:`migrepo.cli` adds them.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from migrepo._text import printable
from migrepo.cli._errors import command
from migrepo.cli._options import (
    directory_option,
    format_option,
    pass_options,
    pick_directory,
    verbose_option,
    x_args,
)
from migrepo.engine import commands as _commands
from migrepo.engine import views as _views

if TYPE_CHECKING:
    from migrepo.engine import options as o


@command()
@directory_option
@click.argument("revision", default="head")
@pass_options("ShowOptions")
def show(options: o.ShowOptions) -> None:
    """Show the revision REVISION (default: head).

    After Alembic's text come the revision file's content hash (its git blob
    hash, as `git hash-object` prints it) and the commit that introduced the
    file: "Introduced in: <sha> <subject> (<author>, <date>)", or why it is
    unknown (not committed, or before a shallow clone's boundary). When
    REVISION names several revisions, the labels name each one:
    "Content hash (<rev>):".
    """
    for line in _views.show(options.directory, options.revision, x_args()):
        click.echo(printable(line))  # git authors and subjects, as anyone wrote them


@command()
@directory_option
@click.option(
    "-r", "--rev-range", default=None, metavar="START:END", help="Only revisions in this range."
)
@verbose_option
@click.option(
    "-i", "--indicate-current", is_flag=True, help="Mark the revision the database is at."
)
@click.option(
    "--graph", is_flag=True, help="Draw the revisions as a graph, like `git log --graph`."
)
@format_option(
    "text",
    "json",
    "dot",
    "mermaid",
    help="Output format: Alembic's text, or the graph as JSON, Graphviz dot or Mermaid.",
)
@pass_options("HistoryOptions")
def history(options: o.HistoryOptions, graph: bool, output_format: str) -> None:
    """List the revisions, newest first."""
    if graph and output_format != "text":
        raise click.UsageError("--graph draws text; leave out --format, or drop --graph")
    for line in _views.history(
        options.directory,
        rev_range=options.rev_range,
        verbose=options.verbose,
        indicate_current=options.indicate_current,
        graph=graph,
        output_format=output_format,
        color=_use_color(),
        x_arg=options.x_arg,
    ):
        click.echo(line)


def _use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


@command()
@directory_option
@verbose_option
@click.option(
    "--resolve-dependencies", is_flag=True, help="Treat dependency revisions as down revisions."
)
@click.option(
    "--write",
    is_flag=True,
    help="Rewrite the migrations directory's HEADS file from the graph, and print what it holds.",
)
@pass_options("HeadsOptions")
def heads(options: o.HeadsOptions, write: bool) -> None:
    """Show the heads of the revision graph.

    With --write, rewrite the HEADS file instead: the committed record of the
    heads, in which `git merge` reports branches that each added a revision.
    """
    if not write:
        _commands.heads(options=options)
        return
    if options.verbose or options.resolve_dependencies:
        raise click.UsageError(
            "--write prints the heads it wrote; leave out -v and --resolve-dependencies"
        )
    path, tips = _commands.write_heads(options.directory)
    click.echo(f"Wrote {path}: {', '.join(tips) or 'no revisions yet'}")


@command()
@directory_option
@verbose_option
@pass_options("BranchesOptions")
def branches(options: o.BranchesOptions) -> None:
    """Show the branch points of the revision graph."""
    _commands.branches(options=options)


@command()
@directory_option
@click.option(
    "--onto",
    metavar="TARGET",
    default=None,
    help="The head to move REV's branch onto (default: the other head).",
)
@click.option(
    "--dry-run", is_flag=True, help="Show the graph before and after, and change nothing."
)
@click.argument("revision", required=False, metavar="[REV]")
def rebase(directory: str | None, onto: str | None, dry_run: bool, revision: str | None) -> None:
    """Move the branch ending at head REV onto head TARGET: history becomes linear.

    Instead of a merge revision, the lowest revision of REV's branch gets
    TARGET as its parent (its down_revision and its docstring's Revises:
    line); every file keeps its revision id, and HEADS is rewritten.

    REV and TARGET are head ids or unique prefixes. Without REV, of two
    heads the one that cannot move stays (applied, pushed, or not a plain
    line of revisions); when both could, the one that came with the checked
    out branch's own (first-parent) history stays and the merged-in one
    moves.

    It refuses when a revision to move is applied to this database, or is
    held by a remote-tracking branch (already pushed).
    """
    from migrepo.engine.options import RebaseOptions
    from migrepo.engine.rebase import rebase as run_rebase

    options = RebaseOptions(pick_directory(directory), revision, onto, dry_run)
    for line in _views.rebase(run_rebase(options=options), color=_use_color()):
        click.echo(line)


COMMANDS = (show, history, heads, branches, rebase)
