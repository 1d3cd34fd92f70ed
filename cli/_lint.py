"""``flask db sql`` and ``flask db lint``.

The data comes from :mod:`migrepo.lint.check`; this module only formats it.
The commands are added to the ``db`` group in :mod:`migrepo.cli`.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from migrepo._text import printable
from migrepo.cli._errors import MigrepoCommand
from migrepo.cli._options import (
    directory_option,
    format_option,
    pick_directory,
    x_arg_option,
    x_args,
)

dialect_option = click.option(
    "--dialect",
    default=None,
    metavar="NAME",
    help="Render for this database (postgresql, mysql, mariadb, sqlite, ...) instead of "
    "the app's; nothing connects to it.",
)


@click.command("sql", cls=MigrepoCommand)
@with_appcontext
@directory_option
@click.option("--down", is_flag=True, help="Show the downgrade instead of the upgrade.")
@dialect_option
@x_arg_option
@format_option(
    "text",
    "json",
    help="text: the script, as `upgrade --sql` prints it; json: one object per statement, "
    "with its revision and the file:line of the op that made it.",
)
@click.argument("revision")
def sql(
    directory: str | None,
    down: bool,
    dialect: str | None,
    x_arg: tuple[str, ...],
    output_format: str,
    revision: str,
) -> None:
    """Print the SQL of REVISION, rendered offline; nothing connects to the database.

    REVISION is one revision (its upgrade from its parents, or with --down its
    downgrade to them), or a range A:B, read as `flask db upgrade --sql A:B`
    (with --down, as `flask db downgrade --sql A:B`).
    """
    from migrepo.lint.check import sql as render

    found = render(
        pick_directory(directory),
        revision,
        down=down,
        dialect=dialect,
        x_arg=x_args(x_arg),
    )
    if output_format == "text":
        click.echo(found.text, nl=False)
        return
    rows = [
        {
            "revision": op.revision,
            "direction": op.direction,
            "statement": statement,
            "file": op.file,
            "line": op.line,
            "op": op.kind,
            "table": op.table,
            "autocommit": op.autocommit,
        }
        for op in found.operations
        for statement in op.statements
    ]
    click.echo(json.dumps(rows, indent=2))


@click.command("lint", cls=MigrepoCommand)
@with_appcontext
@directory_option
@click.option(
    "--since",
    default=None,
    metavar="REF",
    help="Check the revision files the current branch adds since `git merge-base REF "
    "HEAD` (what a pull request adds), as in --since origin/main.",
)
@dialect_option
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@x_arg_option
@format_option(
    "text",
    "json",
    "sarif",
    help="text: grouped by revision; json: every finding, suppressed ones marked; "
    "sarif: SARIF 2.1.0 for CI code scanning.",
)
@click.argument("revisions", nargs=-1)
def lint(
    directory: str | None,
    since: str | None,
    dialect: str | None,
    strict: bool,
    x_arg: tuple[str, ...],
    output_format: str,
    revisions: tuple[str, ...],
) -> None:
    """Check revisions for operations that are unsafe on a live database.

    \b
    Checks the revisions not yet applied to the database (read, never
    written), the REVISIONS named, or with --since REF those the branch adds.
    Each runs offline, as `upgrade --sql`, and its operations are checked:
      add-not-null-column, volatile-default, set-not-null,
      type-change-rewrite, index-not-concurrent, concurrently-in-transaction,
      constraint-validates, drop-table, drop-column, rename-table,
      rename-column, irreversible-downgrade, mixed-schema-data, raw-sql
    (rules that do not apply to the database are skipped).

    \b
    Allow one operation with a comment on its line or the line above:
      # migrepo: allow <rule-id> -- <reason>
    The reason is required. MIGREPO_LINT_IGNORE (a list, or a comma-separated
    string) turns rules off for the project. Exit status 1 on an error
    finding (--strict: on a warning too), 0 otherwise.
    """
    from migrepo.lint.check import lint as run_lint

    found = run_lint(
        pick_directory(directory),
        revisions,
        since=since,
        dialect=dialect,
        x_arg=x_args(x_arg),
        ignore=current_app.config.get("MIGREPO_LINT_IGNORE"),
    )
    if output_format == "json":
        click.echo(json.dumps(as_json(found), indent=2))
    elif output_format == "sarif":
        from migrepo import __version__
        from migrepo.lint.sarif import repository_root, to_sarif

        root = repository_root(found.directory)
        click.echo(json.dumps(to_sarif(found, root, __version__), indent=2))
    else:
        for line in format_text(found):
            click.echo(printable(line))
    code = found.exit_code(strict)
    if code:
        raise click.exceptions.Exit(code)


def as_json(found: Any) -> dict[str, Any]:
    return {
        "dialect": found.dialect,
        "revisions": [s.revision for s in found.revisions],
        "findings": [f.as_json() for f in found.findings],
    }


def format_text(found: Any) -> list[str]:
    if not found.revisions:
        return ["No revisions to check."]
    lines: list[str] = []
    by_revision: dict[str, list[Any]] = {}
    for finding in found.findings:
        if not finding.suppressed:
            by_revision.setdefault(finding.revision, []).append(finding)
    for script in found.revisions:
        shown = by_revision.get(script.revision)
        if not shown:
            continue
        lines.append(f"{script.revision} {script.path}: {script.doc}")
        for f in sorted(shown, key=lambda f: f.line or 0):
            lines.append(f"  line {f.line or '?'}: {f.rule.severity} [{f.rule.id}] {f.message}")
            lines.append(f"    why ({', '.join(f.rule.databases)}): {f.rule.why}")
            lines.append(f"    fix: {f.rule.fix}")
    errors = sum(1 for f in found.findings if not f.suppressed and f.rule.severity == "error")
    warnings = sum(1 for f in found.findings if not f.suppressed and f.rule.severity != "error")
    allowed = sum(1 for f in found.findings if f.suppressed)
    checked = len(found.revisions)
    lines.append(
        f"{checked} revision{'s' if checked != 1 else ''} checked for {found.dialect}: "
        f"{errors} error(s), {warnings} warning(s), {allowed} allowed."
    )
    return lines
