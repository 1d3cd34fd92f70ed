"""The ``flask db`` command group.

Each command parses its options, calls one function of the library and, where
the library returns data, formats it. Errors are turned into one-line messages
by :func:`migrepo.engine.explain.explain`, which
:meth:`migrepo.cli._errors.MigrepoCommand.invoke` calls and prints.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import click

from migrepo._text import printable
from migrepo.cli import _status, _testing
from migrepo.cli._errors import MigrepoGroup
from migrepo.cli._options import (
    GroupOptions,
    directory_option,
    format_option,
    lock_timeout_option,
    migration_run_options,
    pass_options,
    pick_directory,
    revision_options,
    single_transaction_option,
    sql_option,
    tag_option,
    verbose_option,
    x_arg_option,
    x_args,
)
from migrepo.engine import commands as _commands
from migrepo.engine import repository as _repository
from migrepo.engine import views as _views

if TYPE_CHECKING:
    from migrepo.engine import options as o

# --- the group ---------------------------------------------------------------


@click.group(cls=MigrepoGroup)
@directory_option
@x_arg_option
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    envvar="MIGREPO_TRACEBACK",
    help="On error, print the full traceback too (or set MIGREPO_TRACEBACK=1).",
)
@click.pass_context
def db(
    ctx: click.Context, directory: str | None, x_arg: tuple[str, ...], show_traceback: bool
) -> None:
    """Perform database migrations (migrepo, Flask-Migrate compatible).

    -d/--directory may also come from FLASK_DB_DIRECTORY.
    """
    ctx.meta["migrepo"] = GroupOptions(directory, x_arg, show_traceback)


# click reads the group's -d from the environment too.
_directory_param = next(p for p in db.params if p.name == "directory")
_directory_param.envvar = "FLASK_DB_DIRECTORY"


@db.command("list-templates")
def list_templates() -> None:
    """List the available migration repository templates."""
    click.echo("Available templates:\n")
    for name, summary in _commands.list_templates():
        click.echo(f"{name} - {summary}")


@db.command()
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
    _commands.init(options=options)


@db.command()
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


@db.command()
@directory_option
@revision_options
@x_arg_option
@pass_options("RevisionOptions")
def migrate(options: o.RevisionOptions) -> None:
    """Autogenerate a revision file (revision --autogenerate)."""
    _commands.revision(options=dataclasses.replace(options, autogenerate=True))


@db.command()
@directory_option
@click.argument("revision", default="head")
@pass_options("EditOptions")
def edit(options: o.EditOptions) -> None:
    """Open a revision file in $EDITOR."""
    _commands.edit(options=options)


@db.command()
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


@db.command()
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


@db.command()
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


@db.command()
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


@db.command()
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


@db.command()
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


@db.command()
@directory_option
@verbose_option
@pass_options("BranchesOptions")
def branches(options: o.BranchesOptions) -> None:
    """Show the branch points of the revision graph."""
    _commands.branches(options=options)


@db.command()
@directory_option
@verbose_option
@pass_options("CurrentOptions")
def current(options: o.CurrentOptions) -> None:
    """Show the revision the database is at."""
    _commands.current(options=options)


@db.command()
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


@db.command()
@directory_option
@pass_options("CheckOptions")
def check(options: o.CheckOptions) -> None:
    """Exit with status 1 if the models and the database differ."""
    _commands.check(options=options)


@db.command()
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


# --- rebase ------------------------------------------------------------------


@db.command()
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


@db.command()
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
    rows = _repository.ledger_log(directory, limit, revision)
    commits = [row["git_commit"] for row in rows if row["git_commit"]]
    boundary, missing = _repository.ledger_commits_missing(directory, commits)
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


@db.command()
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


# --- deploy-time state: status, resolve (cli/_status.py; --plan is on upgrade/downgrade) ---

db.add_command(_status.status)
db.add_command(_status.resolve)
db.add_command(_testing.test)
db.add_command(_testing.drift)


# --- git audit ---------------------------------------------------------------


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


@db.command()
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
