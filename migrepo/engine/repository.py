"""The git-style repository engine's commands: merge heads, verify, sync and blame.

Each resolves the app's settings through :mod:`migrepo.engine.commands` and
returns data; ``flask db`` formats it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from migrepo.engine.checks import check_rev_range
from migrepo.engine.commands import (
    XArgs,
    current_revisions,
    get_config,
    graph_of,
    indexed,
    ledger,
    ledger_entries,
    merge,
    migration_run,
    resolve_directory,
    revision_graph,
    script_directory,
    state,
)
from migrepo.errors import AppContextError, MigrepoError, UnknownRevision, UsageError

if TYPE_CHECKING:
    from alembic.script import Script

    from migrepo.audit.gitrepo import Blame


def graph_problem(directory: str | os.PathLike[str] | None = None) -> MigrepoError | None:
    """What is wrong with the revision graph, as migrepo names it; None when it is sound.

    Alembic reports a missing parent or a duplicate id only as a warning (then
    a ``KeyError``, or the later file silently wins) and a cycle without the
    files: the CLI asks here for an error that names them.
    """
    from migrepo.errors import GraphError

    try:
        graph_of(get_config(directory))
    except GraphError as exc:
        return exc
    return None


def database_revisions() -> set[str]:
    """The revisions the databases the app migrates are at, from their version tables.

    Read with SQLAlchemy, without running env.py: the version table's name and
    schema are ``Migrate(...)``'s (``version_table``, ``version_table_schema``).
    The default database always counts. A bind counts once it holds
    migrepo's ledger table, that is once migrepo has migrated it: a bind that
    the app only reads may hold another project's version table. A database
    with no version table is at base.
    """
    import sqlalchemy as sa
    from flask import current_app

    from migrepo.db.ledger import DEFAULT_TABLE

    current = state()
    if current.db is None:
        raise AppContextError("Migrate was set up without a database: use `Migrate(app, db)`")
    args = current.configure_args
    schema = args.get("version_table_schema")
    table = sa.table(
        args.get("version_table") or "alembic_version", sa.column("version_num"), schema=schema
    )
    ledger = current_app.config.get("MIGREPO_LEDGER_TABLE", DEFAULT_TABLE)
    found: set[str] = set()
    for bind, engine in current.db.engines.items():
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            if bind is not None and not inspector.has_table(ledger, schema=schema):
                continue
            if inspector.has_table(table.name, schema=schema):
                found.update(connection.scalars(sa.select(table.c.version_num)))
    return found


def revisions_in_range(directory: str | os.PathLike[str] | None, rev_range: str) -> list[str]:
    """The revision ids in an Alembic range such as ``ae1:head``, newest first."""

    check_rev_range(rev_range)
    base, _, head = rev_range.partition(":")
    script = script_directory(get_config(directory))
    return [sc.revision for sc in script.walk_revisions(base or "base", head or "heads")]


def merge_heads(
    directory: str | os.PathLike[str] | None = None,
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
) -> tuple[Script | None, list[str]]:
    """Merge every head into one revision; with a single head, write nothing.

    Returns the merge revision (None when there was nothing to merge) and the
    heads found.
    """
    from migrepo.graph import heads as graph_heads

    tips = graph_heads(revision_graph(directory))
    if len(tips) < 2:
        return None, tips
    if message is None:
        message = f"merge heads {', '.join(tips)}"
    return merge(directory, tuple(tips), message, branch_label, rev_id), tips


def verify(directory: str | os.PathLike[str] | None = None, strict: bool = False) -> list[Any]:
    """Every integrity problem of the migrations directory, as ``Finding`` objects."""
    from migrepo.audit.verify import Subject
    from migrepo.audit.verify import verify as run_checks
    from migrepo.store.reader import read_revision_files

    files = read_revision_files(get_config(directory), execute=True)
    subject = Subject(files, strict=strict, directory=resolve_directory(directory))
    try:
        subject.ledger = ledger_entries()
    except Exception as exc:  # an unreachable database: verify the files all the same
        from migrepo._text import mask_passwords

        subject.ledger_error = mask_passwords(str(exc).strip().splitlines()[0])
    else:
        try:
            subject.database = database_revisions()
        except Exception:  # the ledger was read: a database error here is too rare to report
            subject.database = None
    return run_checks(subject)


def sync(
    directory: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    x_arg: XArgs = None,
    *,
    lock_timeout: float | None = None,
    single_transaction: bool | None = None,
) -> Any:
    """Bring the database to the work tree's heads; returns the :class:`~migrepo.audit.sync.Plan`.

    Revisions the database has and the work tree lacks are downgraded with
    the exact content the ledger recorded, then the database is upgraded.
    ``dry_run`` only plans. Unless ``dry_run``, the migration lock is held
    from reading the database's revision to the end of the upgrade (see
    :func:`migration_run`).
    """
    with migration_run(
        directory,
        lock=not dry_run,
        lock_timeout=lock_timeout,
        single_transaction=single_transaction,
    ):
        return _run_sync(directory, dry_run, x_arg)


def _run_sync(directory: str | os.PathLike[str] | None, dry_run: bool, x_arg: XArgs) -> Any:
    from alembic import command

    from migrepo._compat import set_version_locations
    from migrepo.audit import sync as _sync
    from migrepo.graph import heads as graph_heads
    from migrepo.store.reader import version_locations

    path = resolve_directory(directory)
    graph = revision_graph(directory)
    known = set(graph)
    config = get_config(directory, x_arg=x_arg)
    plan = _sync.Plan(sorted(current_revisions(directory, x_arg)), heads=graph_heads(graph))
    missing = [revision for revision in plan.current if revision not in known]
    if missing:
        hashes = _sync.latest_hashes(ledger_entries())
        with _sync.recovery_location(path) as location:
            plan.recovered = _sync.recover(path, location, missing, known, hashes)
            plan.downgrade_to = _sync.downgrade_target(plan.recovered, known)
            extended = get_config(directory, x_arg=x_arg)
            locations = [*map(str, version_locations(config)), str(location)]
            set_version_locations(extended, locations)
            script = script_directory(extended)
            plan.downgrade = [
                sc.revision
                for sc in script.iterate_revisions(
                    tuple(plan.current), plan.downgrade_to, select_for_downgrade=True
                )
            ]
            if not dry_run:
                with ledger(directory, "downgrade"), indexed():
                    command.downgrade(extended, plan.downgrade_to)
    if not dry_run and not plan.in_sync:
        with ledger(directory, "upgrade"), indexed():
            command.upgrade(config, "heads")
    return plan


def blame(
    directory: str | os.PathLike[str] | None = None, revisions: Sequence[str] = ()
) -> Blame:
    """Where each revision file came from: a :class:`~migrepo.audit.gitrepo.Blame`.

    ``revisions`` are ids or unique id prefixes, reported in the order given;
    with none, every revision, newest first. Each row holds the file's content
    hash (its git blob hash) and, in a git work tree, its state and the
    commits that introduced and last changed it (following renames).
    """
    from migrepo.audit import gitrepo as _git
    from migrepo.graph import build_graph, newest_first
    from migrepo.store.reader import read_revision_files

    files = read_revision_files(get_config(directory))
    for found in files:
        if found.error is not None:
            raise found.error
    by_revision = {found.record.revision: found for found in files if found.record is not None}
    if revisions:
        known = list(by_revision)
        order = list(dict.fromkeys(_match_revision(known, rev) for rev in revisions))
    else:
        order = newest_first(build_graph([f.record for f in files if f.record is not None]))
    return _git.blame([by_revision[rev] for rev in order], resolve_directory(directory))


def _match_revision(known: Sequence[str], argument: str) -> str:
    """The revision id ``argument`` names: the id itself, or a prefix of exactly one id."""

    if argument in known:
        return argument
    matches = sorted(rev for rev in known if argument and rev.startswith(argument))
    if not matches:
        raise UnknownRevision(argument)
    if len(matches) > 1:
        raise UsageError(
            f"revision prefix {argument!r} is ambiguous ({', '.join(matches)}): "
            "give more characters"
        )
    return matches[0]


def shown_revisions(
    directory: str | os.PathLike[str] | None, revision: str, x_arg: XArgs = None
) -> list[str]:
    """The ids of the revisions ``show REVISION`` prints, in Alembic's order."""
    script = script_directory(get_config(directory))
    target: Any = revision
    if revision == "current":
        target = tuple(sorted(current_revisions(directory, x_arg)))
    return [sc.revision for sc in script.get_revisions(target) if sc is not None]
