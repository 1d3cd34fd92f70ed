"""The commands that read git and the ledger together: ``verify``, ``log``,
``sync`` and ``blame``.

The ``db`` group in :mod:`migrepo.cli` adds them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import click

from migrepo._text import printable
from migrepo.cli._errors import command
from migrepo.cli._options import (
    directory_option,
    format_option,
    lock_timeout_option,
    pass_options,
    pick_directory,
    single_transaction_option,
    x_arg_option,
)
from migrepo.engine import log as _log
from migrepo.engine import repository as _repository

if TYPE_CHECKING:
    from migrepo.engine import options as o


@command()
@directory_option
@click.option("--strict", is_flag=True, help="Treat warnings (such as several heads) as errors.")
def verify(directory: str | None, strict: bool) -> None:
    """Check the migrations directory: files, parents, ids, cycles, heads and HEADS.

    Reports every problem found and exits with status 1 if any is an error.
    A "note:" line says what verify cannot know (in a shallow clone, the
    commits before its boundary); notes never fail the run.
    """
    findings = _repository.verify(pick_directory(directory), strict)
    for finding in findings:
        click.echo(printable(f"{finding.level}: {finding.message}"), err=finding.level == "error")
    errors = sum(finding.level == "error" for finding in findings)
    if errors:
        raise click.exceptions.Exit(1)
    if all(finding.level == "note" for finding in findings):
        click.echo("ok: the migrations directory is sound")


@command()
@directory_option
@click.option(
    "-n",
    "--max-count",
    "limit",
    type=click.IntRange(min=1),
    default=None,
    help="Show at most this many entries.",
)
@click.option(
    "--revision",
    default=None,
    help="Only entries for this revision id, or a unique prefix of one.",
)
@format_option("text", "json")
def log(
    directory: str | None, limit: int | None, revision: str | None, output_format: str
) -> None:
    """Show the ledger: every step applied to the database, newest first.

    Like `git log`: each entry names the direction, the revision and the
    outcome, then when, by whom, from which git commit, and the content
    hash of the revision file that ran. In a shallow clone, a note says
    where git's history stops, and commits it lacks are marked.
    """
    directory = pick_directory(directory)
    rows = _log.ledger_log(directory, limit, revision)
    commits = [row["git_commit"] for row in rows if row["git_commit"]]
    boundary, missing = _log.ledger_commits_missing(directory, commits)
    if boundary:
        click.echo(
            f"note: shallow clone: git's history stops at {', '.join(b[:7] for b in boundary)}; "
            f"{len(missing)} of the commits listed here are not in it, so what they held "
            "is unknown (`git fetch --unshallow` fetches them)",
            err=True,
        )
    if output_format == "json":
        import json

        click.echo(json.dumps(rows, default=_json_default, indent=2))
        return
    if not rows and revision is not None:
        click.echo(f"No ledger rows for revision {revision}.")
        return
    if not rows:
        click.echo("The ledger is empty: nothing has been applied through migrepo yet.")
        return
    for index, row in enumerate(rows):
        if index:
            click.echo()
        click.echo(_format_log_entry(row, missing))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _format_log_entry(row: dict[str, Any], missing: Collection[str] = ()) -> str:
    where = f" [{row['database']}]" if row.get("database") else ""
    if row["git_commit"]:
        commit = row["git_commit"][:12]
        if row["git_commit"] in missing:
            commit += " (not in this shallow clone)"
    else:
        commit = "(no commit yet)" if row["git_dirty"] is not None else "(not in a git work tree)"
    if row["git_dirty"]:
        commit += " (uncommitted changes)"
    started = row["started_at"]
    when = f"{started:%Y-%m-%d %H:%M:%S} UTC" if started is not None else "(unknown)"
    lines = [
        f"{row['direction']} {row['revision']}{where} ({row['outcome']})",
        f"Date:    {when}, {row['duration_ms']} ms",
        f"By:      {row['applied_by']}, migrepo {row['migrepo_version']}",
        f"Commit:  {commit}",
        f"Content: {row['content_hash'] or '(no file)'}",
    ]
    if row["error"]:
        label = "Reason:" if row["direction"] == "resolve" else "Error:"
        lines.append(f"{label:<8} {row['error']}")
    # Ledger values are whatever the database holds: never raw escapes on a terminal.
    return "\n".join(printable(str(line)) for line in lines)


@command()
@directory_option
@x_arg_option
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@lock_timeout_option
@single_transaction_option
@pass_options("SyncOptions")
def sync(options: o.SyncOptions) -> None:
    """Bring the database to this work tree's heads, after a branch switch.

    Only the revisions the database is at but this work tree lacks are
    downgraded, each with the exact file content recorded in the ledger
    (fetched from git's objects or migrepo's cache and checked by hash);
    then the database is upgraded to the work tree's heads. Revisions the
    work tree has are never downgraded.
    """
    plan = _repository.sync(options=options)  # ids may come from alembic_version: escape them
    dry_run = options.dry_run
    sources = {rev.revision: rev for rev in plan.recovered}
    if plan.in_sync:
        click.echo(printable(f"Already in sync: the database is at {', '.join(plan.current)}."))
        return
    verb = "Would" if dry_run else "Did"
    click.echo(printable(f"Database at:     {', '.join(plan.current) or '<base>'}"))
    click.echo(printable(f"Work tree heads: {', '.join(plan.heads) or '<base>'}"))
    for revision in plan.downgrade:
        found = sources.get(revision)
        origin = f" (content {found.content_hash[:12]}, from {found.source})" if found else ""
        click.echo(printable(f"{verb} downgrade {revision}{origin}"))
    for revision in plan.upgrade:
        click.echo(printable(f"{verb} upgrade {revision}"))
    if not plan.upgrade:
        now = "would then be" if dry_run else "is now"
        at = ", ".join(plan.kept) or "<base>"
        click.echo(
            printable(f"Nothing to upgrade: the database {now} at this work tree's heads ({at}).")
        )


def _shallow_note(report: Any) -> None:
    if report.shallow_boundary:
        commits = ", ".join(
            f"{c.short_sha} {c.subject}".rstrip() for c in report.shallow_boundary
        )
        click.echo(
            f"note: shallow clone: git's history stops at {commits}; who added the files "
            "older than that is unknown (`git fetch --unshallow` fetches the rest)",
            err=True,
        )


@command()
@directory_option
@format_option(
    "text", "json", help="Output format: a block per revision, or a JSON list of objects."
)
@click.argument("revisions", nargs=-1, metavar="[REV]...")
def blame(directory: str | None, output_format: str, revisions: tuple[str, ...]) -> None:
    """Show which commit introduced each revision file, and its content hash.

    REV is a revision id or a unique prefix of one; with none, every revision,
    newest first. The text format prints a block per revision:

    \b
      <revision>  <commit> <date> <author>  <subject>   (added the file)
          path     <path in the work tree> (<state>)
          content  <git blob hash of the file on disk>
          changed  <commit> <date> <author>  <subject>  (last change, if later)

    The state is committed, modified, staged or untracked. Renames are
    followed, also between version locations, and a file first seen in a
    merge commit was introduced by that merge. One walk of the version
    locations' history answers for every file; it is cached in
    .migrepo/history.json. JSON rows hold revision, path, content_hash,
    introduced_in and last_changed_in ({sha, author, date, subject} or null),
    state and history_cut_off_at. In a shallow clone, a file the boundary
    commit already has was added there or before: introduced_in is null and
    history_cut_off_at names the boundary. Outside a git work tree only the
    content hashes are shown, and the git fields are null.
    """
    report = _repository.blame(pick_directory(directory), revisions)
    if report.work_tree is None:
        click.echo("note: not in a git work tree: showing content hashes only", err=True)
    _shallow_note(report)
    if output_format == "json":
        import json

        click.echo(json.dumps([row.to_dict() for row in report.rows], indent=2))
        return
    for index, row in enumerate(report.rows):
        if index:
            click.echo()
        click.echo(_format_blame(row))


def _format_blame(row: Any) -> str:
    def commit_line(commit: Any) -> str:
        return f"{commit.short_sha} {commit.date[:10]} {commit.author}  {commit.subject}"

    if row.introduced_in is not None:
        header = f"{row.revision}  {commit_line(row.introduced_in)}"
    elif row.history_cut_off_at is not None:
        boundary = row.history_cut_off_at.short_sha
        header = f"{row.revision}  (history cut off: added in {boundary} or before)"
    else:
        header = row.revision if row.state is None else f"{row.revision}  (not committed)"
    state = f" ({row.state})" if row.state is not None else ""
    lines = [header, f"    path     {row.path}{state}", f"    content  {row.content_hash}"]
    last = row.last_changed_in
    first = row.introduced_in or row.history_cut_off_at
    if last is not None and first is not None and last.sha != first.sha:
        lines.append(f"    changed  {commit_line(last)}")
    # Authors and subjects come from git as anyone wrote them.
    return "\n".join(printable(line) for line in lines)


COMMANDS = (verify, log, sync, blame)
