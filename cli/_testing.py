"""``flask db test`` and ``flask db drift``.

The work is done by :mod:`migrepo.testing` and :mod:`migrepo.testing.drift`;
this module parses the options and formats the results. The commands are
added to the ``db`` group in :mod:`migrepo.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext

from migrepo._text import printable
from migrepo.cli._errors import MigrepoCommand
from migrepo.cli._options import directory_option, format_option, pick_directory, x_args

F = TypeVar("F", bound=Callable[..., Any])


def database_options(f: F) -> F:
    f = click.option(
        "--create-db",
        is_flag=True,
        help="Create a scratch database on the app's server (PostgreSQL, MySQL, MariaDB) "
        "and drop it afterwards.",
    )(f)
    return click.option(
        "--url",
        "urls",
        multiple=True,
        metavar="URL",
        help="An empty database to use instead of a temporary SQLite file; the tables "
        "created in it are dropped afterwards. Multi-database apps: one BIND=URL per "
        "bind, =URL for the default. The app's own database only if given by its exact URL.",
    )(f)


def parse_urls(urls: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--url`` values: one URL, or BIND=URL pairs (``=URL`` for the default bind)."""
    if not urls:
        return None
    if len(urls) == 1 and not _bound(urls[0]):
        return urls[0]
    found: dict[str, str] = {}
    for value in urls:
        if not _bound(value):
            raise click.UsageError(
                f"--url {value!r}: with several --url options, write each as BIND=URL"
            )
        bind, _, url = value.partition("=")
        found[bind] = url
    return found


def _bound(value: str) -> bool:
    """True for ``BIND=URL``: a name (no ``:`` or ``/``) before the first ``=``."""
    head, sep, _ = value.partition("=")
    return bool(sep) and ":" not in head and "/" not in head


@click.command("test", cls=MigrepoCommand)
@with_appcontext
@directory_option
@database_options
@format_option("text", "json")
def test(
    directory: str | None, urls: tuple[str, ...], create_db: bool, output_format: str
) -> None:
    """Check the migrations on a throwaway database; exit 1 if any check fails.

    \b
    The checks, in order:
      single-head  one head (or exactly the heads the HEADS file records)
      upgrade      base -> heads runs
      model-match  after the upgrade, autogenerate finds nothing to do
      stairway     for each revision, oldest first: upgrade to it,
                   downgrade one step (the schema must be as before),
                   upgrade again (the schema must be as after)
      round-trip   downgrade to base then upgrade gives the same schema

    The database is a temporary SQLite file for an app on SQLite, otherwise
    --url or --create-db. Never the app's configured database, unless --url
    is exactly its URL; the database must be empty.
    """
    from migrepo.testing import checks, throwaway_database

    outcomes = []
    with throwaway_database(url=parse_urls(urls), create_db=create_db) as target:
        for check in checks(target, directory=pick_directory(directory), x_arg=x_args()):
            outcome = check.run()
            outcomes.append(outcome)
            if output_format == "text":
                click.echo(printable(format_outcome(outcome)))
    failed = [o for o in outcomes if not o.passed]
    if output_format == "json":
        click.echo(
            json.dumps({"passed": not failed, "checks": [o.to_dict() for o in outcomes]}, indent=2)
        )
    else:
        click.echo(
            f"{len(outcomes) - len(failed)} passed, {len(failed)} failed"
            if failed
            else f"{len(outcomes)} passed"
        )
    if failed:
        raise click.exceptions.Exit(1)


def format_outcome(outcome: Any) -> str:
    state = "ok" if outcome.passed else ("SKIP" if outcome.skipped else "FAIL")
    name = outcome.check + (f" {outcome.revision}" if outcome.revision else "")
    if outcome.bind:
        name += f" [{outcome.bind}]"
    return f"{state:<4} {name}" + (f": {outcome.reason}" if outcome.reason else "")


@click.command("drift", cls=MigrepoCommand)
@with_appcontext
@directory_option
@database_options
@format_option("text", "json")
def drift(
    directory: str | None, urls: tuple[str, ...], create_db: bool, output_format: str
) -> None:
    """Compare the database with its history replayed; exit 1 on drift.

    Replays the migrations up to the database's current revision in a
    throwaway database (as for `flask db test`: a temporary SQLite file,
    --url or --create-db), then lists every difference of the live
    database: tables, columns, types, nullability, server defaults,
    indexes, unique, foreign-key and check constraints. The live database
    is only read.
    """
    from migrepo.testing.drift import drift as find_drift

    found = find_drift(
        url=parse_urls(urls),
        create_db=create_db,
        directory=pick_directory(directory),
        x_arg=x_args(),
    )
    if output_format == "json":
        click.echo(json.dumps(found.to_dict(), indent=2))
    else:
        at = ", ".join(found.revisions) or "base"
        if not found.drifted:
            click.echo(printable(f"No drift: the database matches its history at {at}."))
        else:
            click.echo(
                printable(
                    f"Drift: {len(found.differences)} difference(s) from the history "
                    f"replayed to {at}:"
                )
            )
            for difference in found.differences:
                click.echo(printable(f"  {difference}"))
    if found.drifted:
        raise click.exceptions.Exit(1)
