"""``flask db status``, ``flask db resolve`` and ``upgrade/downgrade --plan``.

The data comes from :mod:`migrepo.engine.status`, :mod:`~migrepo.engine.plan` and
:mod:`~migrepo.engine.resolve`; this module only formats it.
The commands are added to the ``db`` group in :mod:`migrepo.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext

from migrepo._text import printable
from migrepo.cli._errors import MigrepoCommand
from migrepo.cli._options import (
    directory_option,
    format_option,
    lock_timeout_option,
    pick_directory,
    x_args,
)

F = TypeVar("F", bound=Callable[..., Any])


@click.command("status", cls=MigrepoCommand)
@with_appcontext
@directory_option
@click.option(
    "--check",
    is_flag=True,
    help="Exit with the status's code (0 at head, 3 pending, 4 ahead, 5 heads, 6 dirty).",
)
@format_option("text", "json")
def status(directory: str | None, check: bool, output_format: str) -> None:
    """Show every revision and its state in this database, oldest first.

    Each line gives the state (applied, pending, failed: rolled back and still
    pending, dirty: failed part-way on a database without transactional DDL,
    unknown: applied but not in this tree), the revision with its marks (head,
    branch point, merge), when, by whom and from which commit it was applied,
    and whether the file changed since (changed). A summary line ends the table.

    \b
    With --check, the exit status tells the state, for deploy scripts and
    readiness probes:
      0  at head: nothing to do
      3  pending: revisions to apply
      4  ahead: the database is at a revision this tree has no file for
      5  several heads in the tree: merge or rebase them
      6  dirty: a revision failed part-way; repair it, then `flask db resolve`
    When several apply, the first in this order wins: 6, 4, 5, 3.
    1 is an error (the command could not tell), 2 bad usage.
    """
    from migrepo.engine import status as _status

    found = _status.status(pick_directory(directory), x_args())
    if output_format == "json":
        click.echo(json.dumps(found.as_json(), default=_json_default, indent=2))
    else:
        for line in format_status(found):
            click.echo(printable(line))  # ids from alembic_version, ledger values
    if check and found.exit_code:
        raise click.exceptions.Exit(found.exit_code)


def format_status(found: Any) -> list[str]:
    rows = [("STATE", "REVISION", "APPLIED (UTC)", "BY", "COMMIT", "FILE", "MESSAGE")]
    for rev in found.revisions:
        marks = [
            mark
            for mark, present in (
                ("head", rev.is_head),
                ("branch point", rev.is_branch_point),
                ("merge", rev.is_merge_point),
            )
            if present
        ]
        name = rev.revision + (f" ({', '.join(marks)})" if marks else "")
        if rev.database and rev.state in ("dirty", "failed"):
            name += f" [{rev.database}]"  # the database the step failed in
        when = f"{rev.applied_at:%Y-%m-%d %H:%M}" if rev.applied_at else "-"
        file = "-" if rev.changed is None else "changed" if rev.changed else "same"
        if rev.path is None:
            file = "no file"
        message = rev.message
        if rev.error and rev.state in ("dirty", "failed"):
            message = f"{rev.last_step}: {rev.error}"
        rows.append(
            (
                rev.state,
                name,
                when,
                rev.applied_by or "-",
                (rev.git_commit or "-")[:12],
                file,
                message,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
    lines = [line.rstrip() for line in lines] if found.revisions else []
    at = ", ".join(found.current) or "<base>"
    lines.append(f"Database at {at}: {found.summary}")
    return lines


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


@click.command("resolve", cls=MigrepoCommand)
@with_appcontext
@directory_option
@click.option(
    "--applied",
    "outcome",
    flag_value="applied",
    help="The revision's changes are all in the database: stamp it as applied.",
)
@click.option(
    "--rolled-back",
    "outcome",
    flag_value="rolled-back",
    help="None of the revision's changes are left: keep the version at its parent.",
)
@click.option(
    "-m",
    "--message",
    default=None,
    help="Why, and what was repaired (required; goes in the ledger).",
)
@lock_timeout_option
@click.argument("revision")
def resolve(
    directory: str | None,
    outcome: str | None,
    message: str | None,
    lock_timeout: float | None,
    revision: str,
) -> None:
    """Record how a dirty REVISION was repaired, after a failed run.

    On a database without transactional DDL (SQLite, MySQL, MariaDB) a
    revision that fails can leave part of its changes behind: `flask db
    status` then shows it as dirty and `upgrade` refuses to run. Repair the
    database by hand, then record the outcome with --applied or
    --rolled-back. Both write a ledger row with who resolved it and the -m
    reason. Refused, changing nothing, when REVISION is not dirty.
    """
    from migrepo.engine.resolve import resolve as record
    from migrepo.errors import UsageError

    if outcome is None:
        raise UsageError("say how it was resolved: --applied or --rolled-back")
    if message is None or not message.strip():
        raise UsageError("give the reason with -m/--message: it goes into the ledger")
    done = record(
        pick_directory(directory),
        revision,
        applied=outcome == "applied",
        message=message,
        x_arg=x_args(),
        lock_timeout=lock_timeout,
    )
    where = f" [{done.database}]" if done.database else ""
    if done.applied:
        click.echo(f"Resolved {done.revision}{where} as applied: the database is at it.")
    else:
        parents = ", ".join(done.parents)
        back = f"at its parent {parents}" if parents else "at base"
        click.echo(f"Resolved {done.revision}{where} as rolled back: the database is {back}.")


def plan_option(f: F) -> F:
    return click.option(
        "--plan",
        is_flag=True,
        help="Print the steps this would run, in order, each with its file and content "
        "hash, and change nothing (no lock, no ledger row).",
    )(f)


def echo_plan(
    directory: str | None, revision: str, direction: str, x_arg: list[str], *, sql: bool = False
) -> None:
    from migrepo.engine.plan import plan
    from migrepo.errors import UsageError

    if sql:
        raise UsageError("--plan and --sql do not go together: --sql already prints, runs nothing")

    found = plan(directory, revision, direction, x_arg)
    at = ", ".join(found.current) or "<base>"
    if not found.steps:
        click.echo(printable(f"Nothing to {direction}: the database is at {at}."))
        return
    click.echo(printable(f"Database at {at}; {direction} to {revision} would run:"))
    for number, step in enumerate(found.steps, 1):
        where = f" [{step.database}]" if step.database else ""
        click.echo(printable(f"{number}. {step.direction} {step.revision}{where}: {step.message}"))
        click.echo(printable(f"   {step.path or '(no file)'} {step.file_hash or ''}".rstrip()))
