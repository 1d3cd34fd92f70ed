"""The git-style repository engine's commands: merge heads, verify, sync and blame.

Each resolves the app's settings through :mod:`migrepo.engine.commands` and
returns data; ``flask db`` formats it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from migrepo.engine import drive
from migrepo.engine.checks import check_rev_range, match_revision
from migrepo.engine.commands import get_config, graph_of, merge, new_run
from migrepo.engine.log import read_ledger
from migrepo.errors import AppContextError, MigrepoError

log = logging.getLogger("migrepo")

if TYPE_CHECKING:
    from alembic.script import Script

    from migrepo.audit.gitrepo import Blame
    from migrepo.engine.options import SyncOptions
    from migrepo.engine.run import Run


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


def database_revisions(run: Run) -> set[str]:
    """The revisions the databases ``run``'s app migrates are at, from their version tables.

    Read with SQLAlchemy, without running env.py: the version table's name and
    schema are ``Migrate(...)``'s (``version_table``, ``version_table_schema``).
    The default database always counts. A bind counts once it holds
    migrepo's ledger table, that is once migrepo has migrated it: a bind that
    the app only reads may hold another project's version table. A database
    with no version table is at base.
    """
    from functools import partial

    import sqlalchemy as sa

    from migrepo.db.io import run_on

    if run.db is None:
        raise AppContextError("Migrate was set up without a database: use `Migrate(app, db)`")
    args = run.configure_args
    schema = args.get("version_table_schema")
    table = sa.table(
        args.get("version_table") or "alembic_version", sa.column("version_num"), schema=schema
    )
    ledger = run.settings.ledger_table

    def read(connection: sa.Connection, *, default: bool) -> set[str]:
        inspector = sa.inspect(connection)
        if not default and not inspector.has_table(ledger, schema=schema):
            return set()
        if not inspector.has_table(table.name, schema=schema):
            return set()
        return set(connection.scalars(sa.select(table.c.version_num)))

    found: set[str] = set()
    for bind, engine in run.db.engines.items():
        found |= run_on(engine, partial(read, default=bind is None))
    return found


def revisions_in_range(run: Run, rev_range: str) -> list[str]:
    """The revision ids in an Alembic range such as ``ae1:head``, newest first."""
    check_rev_range(rev_range)
    base, _, head = rev_range.partition(":")
    script = run.script
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

    run = new_run(directory)
    tips = graph_heads(graph_of(run.config))
    if len(tips) < 2:
        return None, tips
    if message is None:
        message = f"merge heads {', '.join(tips)}"
    from migrepo.engine.options import MergeOptions

    options = MergeOptions(directory, tuple(tips), message, branch_label, rev_id)
    return merge(options=options, run=run), tips


def verify(directory: str | os.PathLike[str] | None = None, strict: bool = False) -> list[Any]:
    """Every integrity problem of the migrations directory, as ``Finding`` objects."""
    from migrepo.audit.verify import Subject
    from migrepo.audit.verify import verify as run_checks
    from migrepo.store.reader import read_revision_files, version_locations

    run = new_run(directory)
    config = run.config
    files = read_revision_files(config, execute=True)
    subject = Subject(
        files,
        strict=strict,
        directory=run.directory,
        locations=version_locations(config),
    )
    try:
        subject.ledger = read_ledger(run)
    except Exception as exc:  # an unreachable database: verify the files all the same
        from migrepo._text import mask_passwords

        subject.ledger_error = mask_passwords(str(exc).strip().splitlines()[0])
    else:
        try:
            subject.database = database_revisions(run)
        except Exception:  # the ledger was read: a database error here is too rare to report
            subject.database = None
    return run_checks(subject)


def sync(*, options: SyncOptions) -> Any:
    """Bring the database to the work tree's heads; returns the :class:`~migrepo.audit.sync.Plan`.

    Revisions the database has and the work tree lacks, and only those, are
    downgraded with the exact content the ledger recorded; then the database
    is upgraded to the work tree's heads. Both happen in one Alembic run, so
    ``single_transaction`` makes them one transaction where the database has
    transactional DDL (PostgreSQL). ``dry_run`` only plans. Unless
    ``dry_run``, the migration lock is held from reading the database's
    revision to the end of the upgrade (see
    :meth:`Run.moving <migrepo.engine.run.Run.moving>`).
    """
    run = new_run(options.directory, x_arg=options.x_arg)
    with run.moving(
        lock=not options.dry_run,
        lock_timeout=options.lock_timeout,
        single_transaction=options.single_transaction,
    ):
        single = bool(options.single_transaction)
        return _run_sync(run, options.dry_run, single_transaction=single)


def _run_sync(run: Run, dry_run: bool, *, single_transaction: bool = False) -> Any:
    from contextlib import ExitStack

    from migrepo.audit import sync as _sync
    from migrepo.graph import build_graph
    from migrepo.graph import heads as graph_heads
    from migrepo.store.reader import version_locations

    path = run.directory
    config = run.config
    graph = graph_of(config)
    known = set(graph)
    # Names a revision may depend on: the work tree's revisions and branch labels.
    names = known | set(graph.graph.get("branch_labels", ()))
    plan = _sync.Plan(sorted(drive.current_heads(run)), heads=graph_heads(graph))
    missing = [revision for revision in plan.current if revision not in known]
    script = run.script
    with ExitStack() as stack:
        if missing:
            hashes = _sync.latest_hashes(read_ledger(run))
            location = stack.enter_context(_sync.scratch_location(path))
            plan.recovered, records = _sync.recover(path, location, missing, names, hashes)
            graph = build_graph([*(graph.nodes[rev]["record"] for rev in graph), *records])
            # The run's own version location, given as a list: no ini string to
            # split or interpolate, so any character in a path is fine.
            script.version_locations = [*map(str, version_locations(config)), str(location)]
        plan.downgrade, plan.kept = _sync.undo_plan(graph, known, plan.current)
        plan.upgrade = _upgrade_list(script, plan.heads, plan.kept)
        if not dry_run and not plan.in_sync:
            plan.upgrade = _apply_sync(run, script, graph, known, plan, single_transaction)
    return plan


_DIALECTS = {"sqlite": "SQLite", "mysql": "MySQL/MariaDB", "mariadb": "MariaDB"}


def _upgrade_list(script: Any, tips: Sequence[str], heads: Sequence[str]) -> list[str]:
    """The revisions an upgrade from ``heads`` to ``tips`` applies, oldest first.

    Alembic's own selection and order, as ``upgrade heads`` would run them;
    ``tips`` are the work tree's heads (the script directory also holds the
    recovered revisions, which must not come back).
    """
    if not tips:
        return []
    revisions = script.iterate_revisions(tuple(tips), tuple(heads), implicit_base=True)
    return [sc.revision for sc in reversed(list(revisions))]


def _apply_sync(
    run: Run,
    script: Any,
    graph: Any,
    known: set[str],
    plan: Any,
    single_transaction: bool,
) -> list[str]:
    """Run the downgrades, then the upgrades, as one Alembic run; returns what was upgraded.

    The steps are Alembic's own ``MigrationStep`` objects, handed to it the
    way its ``command.upgrade`` does (a function of the database's heads), so
    Alembic executes them and keeps the version table. With several
    databases (multidb) the function runs once per database, on its heads.
    """
    # Alembic's command functions hand run_migrations() these step objects; it
    # has no public way to ask for "these downgrades, then those upgrades" in
    # one run, which a single transaction across both needs.
    from alembic.runtime.migration import MigrationStep

    from migrepo.audit import sync as _sync

    upgraded: list[str] = []
    phase = ["downgrade"]

    def steps(heads: Any, context: Any) -> Iterator[Any]:
        phase[0] = "downgrade"
        heads = sorted(heads)
        if not set(heads) <= set(plan.current):
            raise _sync.SyncError(
                f"the database moved to {', '.join(heads)} while sync was planning; "
                "run `flask db sync` again"
            )
        undo, _kept = _sync.undo_plan(graph, known, heads)
        if undo and single_transaction and not context.impl.transactional_ddl:
            log.warning(
                "%s commits each revision as it runs (no transactional DDL): "
                "--single-transaction cannot roll the downgrade back if the upgrade fails",
                _DIALECTS.get(context.dialect.name, context.dialect.name),
            )
        for revision in undo:
            yield MigrationStep.downgrade_from_script(
                script.revision_map, script.get_revision(revision)
            )
        # After the downgrades, from the heads the version table now holds:
        # Alembic's own answer, in this run's transaction.
        phase[0] = "upgrade"
        for revision in _upgrade_list(script, plan.heads, context.get_current_heads()):
            if revision not in upgraded:
                upgraded.append(revision)
            yield MigrationStep.upgrade_from_script(
                script.revision_map, script.get_revision(revision)
            )

    # "sync": steps are recorded with their own direction; a failure's row is
    # written here, with the direction of the phase that failed.
    with run.recording("sync") as recorder:
        try:
            run.run_env(steps, script=script, destination_rev="heads")
        except BaseException as exc:
            if recorder is not None:
                with suppress(Exception):  # the original error matters more
                    recorder.record_failure(exc, phase[0])
            raise
    return upgraded


def blame(
    directory: str | os.PathLike[str] | None = None, revisions: Sequence[str] = ()
) -> Blame:
    """Where each revision file came from: a :class:`~migrepo.audit.gitrepo.Blame`.

    ``revisions`` are ids or unique id prefixes, reported in the order given;
    with none, every revision, newest first. Each row holds the file's content
    hash (its git blob hash) and, in a git work tree, its state and the
    commits that introduced and last changed it (following renames), from
    one cached walk of the version locations' history.
    """
    from migrepo.audit import gitrepo as _git
    from migrepo.graph import build_graph, newest_first
    from migrepo.store.reader import read_revision_files, version_locations

    run = new_run(directory)
    config = run.config
    files = read_revision_files(config)
    for found in files:
        if found.error is not None:
            raise found.error
    by_revision = {found.record.revision: found for found in files if found.record is not None}
    if revisions:
        known = list(by_revision)
        order = list(dict.fromkeys(match_revision(known, rev) for rev in revisions))
    else:
        order = newest_first(build_graph([f.record for f in files if f.record is not None]))
    chosen = [by_revision[rev] for rev in order]
    return _git.blame(chosen, run.directory, version_locations(config))


def _shown_scripts(run: Run, revision: str) -> list[Script]:
    script = run.script
    target: Any = revision
    if revision == "current":
        target = tuple(sorted(drive.current_heads(run)))
    return [sc for sc in script.get_revisions(target) if sc is not None]


def shown_blame(run: Run, revision: str) -> Blame:
    """:func:`blame` of the revisions ``show REVISION`` prints, in Alembic's order.

    Reads only their files, not every revision file as :func:`blame` does.
    """
    from pathlib import Path

    from migrepo.audit import gitrepo as _git
    from migrepo.store.reader import read_revision_file, version_locations

    scripts = _shown_scripts(run, revision)
    files = [read_revision_file(Path(sc.path)) for sc in scripts]
    for found in files:
        if found.error is not None:
            raise found.error
    return _git.blame(files, run.directory, version_locations(run.config))
