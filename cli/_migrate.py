"""The commands Flask-Migrate has that write revision files or move the database:
``init``, ``revision``, ``migrate``, ``edit``, ``merge``, ``upgrade``,
``downgrade``, ``current``, ``stamp``, ``check`` and ``list-templates``.

The ``db`` group in :mod:`migrepo.cli` adds them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from migrepo.cli import _status
from migrepo.cli._errors import command
from migrepo.cli._options import (
    directory_option,
    lock_timeout_option,
    migration_run_options,
    pass_options,
    revision_options,
    sql_option,
    tag_option,
    verbose_option,
    x_arg_option,
)
from migrepo.engine import commands as _commands
from migrepo.engine import init as _init
from migrepo.engine import repository as _repository

if TYPE_CHECKING:
    from migrepo.engine import options as o


@command("list-templates")
def list_templates() -> None:
    """List the available migration repository templates."""
    click.echo("Available templates:\n")
    for name, summary in _init.list_templates():
        click.echo(f"{name} - {summary}")


@command()
@directory_option
@click.option("--multidb", is_flag=True, help="Migrate the default database and every bind.")
@click.option(
    "-t",
    "--template",
    default=None,
    metavar="NAME|PATH",
    help="Template name (see list-templates), else a template folder in the working "
    "directory, or the path to one (default 'flask'; with --multidb, the multi-database "
    "version of flask or aioflask).",
)
@click.option(
    "--package",
    is_flag=True,
    help="Write empty __init__.py files to the environment and version directories.",
)
@pass_options("InitOptions")
def init(options: o.InitOptions) -> None:
    """Create a new migrations directory."""
    _init.init(options=options)


@command()
@directory_option
@revision_options
@click.option(
    "--autogenerate",
    is_flag=True,
    help="Fill the revision with the differences between the models and the database.",
)
@pass_options("RevisionOptions")
def revision(options: o.RevisionOptions) -> None:
    """Create a new revision file."""
    _commands.revision(options=options)


@command()
@directory_option
@revision_options
@x_arg_option
@pass_options("RevisionOptions")
def migrate(options: o.RevisionOptions) -> None:
    """Autogenerate a revision file (revision --autogenerate)."""
    _commands.revision(options=dataclasses.replace(options, autogenerate=True))


@command()
@directory_option
@click.argument("revision", default="head")
@pass_options("EditOptions")
def edit(options: o.EditOptions) -> None:
    """Open a revision file in $EDITOR."""
    _commands.edit(options=options)


@command()
@directory_option
@click.option("-m", "--message", default=None, help="Merge revision message.")
@click.option("--branch-label", default=None, help="Branch label for the merge revision.")
@click.option("--rev-id", default=None, help="Revision id to use instead of a generated one.")
@click.argument("revisions", nargs=-1, required=True)
@pass_options("MergeOptions")
def merge(options: o.MergeOptions) -> None:
    """Create a revision that merges REVISIONS (required).

    REVISIONS are the revision ids to join, two or more, or `heads`:
    `flask db merge heads` merges every head; with a single head it writes nothing.
    """
    if options.revisions != ("heads",):
        _commands.merge(options=options)
        return
    merged, tips = _repository.merge_heads(
        options.directory, options.message, options.branch_label, options.rev_id
    )
    if merged is None:
        found = f"a single head ({tips[0]})" if tips else "no revisions"
        click.echo(f"Nothing to merge: the revision graph has {found}.")


@command()
@migration_run_options
@_status.plan_option
@click.argument("revision", default="head")
@pass_options("MoveOptions")
def upgrade(options: o.MoveOptions, plan: bool) -> None:
    """Upgrade the database to REVISION (default: head).

    One run at a time: a run waits while another holds the database's
    migration lock. Each revision commits on its own; a failing one leaves
    the database at the last good revision. A database left dirty by a
    revision that failed part-way is refused: see `flask db status` and
    `flask db resolve`.
    """
    if plan:
        _status.echo_plan(
            options.directory, options.revision or "head", "upgrade",
            list(options.x_arg or ()), sql=options.sql
        )
        return
    _commands.upgrade(options=options)


@command()
@migration_run_options
@_status.plan_option
@click.argument("revision", default="-1")
@pass_options("MoveOptions")
def downgrade(options: o.MoveOptions, plan: bool) -> None:
    """Downgrade the database to REVISION (default: -1, one step back).

    Takes the migration lock and commits each revision on its own, as upgrade does.
    """
    if plan:
        _status.echo_plan(
            options.directory, options.revision or "-1", "downgrade",
            list(options.x_arg or ()), sql=options.sql
        )
        return
    _commands.downgrade(options=options)


@command()
@directory_option
@verbose_option
@pass_options("CurrentOptions")
def current(options: o.CurrentOptions) -> None:
    """Show the revision the database is at."""
    _commands.current(options=options)


@command()
@directory_option
@sql_option
@tag_option
@click.option(
    "--purge", is_flag=True, help="Empty the version table before stamping."
)
@lock_timeout_option
@click.argument("revision", default="head")
@pass_options("StampOptions")
def stamp(options: o.StampOptions) -> None:
    """Set the database's revision to REVISION without running migrations."""
    _commands.stamp(options=options)


@command()
@directory_option
@pass_options("CheckOptions")
def check(options: o.CheckOptions) -> None:
    """Exit with status 1 if the models and the database differ."""
    _commands.check(options=options)


COMMANDS = (
    list_templates,
    init,
    revision,
    migrate,
    edit,
    merge,
    upgrade,
    downgrade,
    current,
    stamp,
    check,
)
