"""The migration commands: each builds one :class:`~migrepo.engine.run.Run` and drives
Alembic through :mod:`migrepo.engine.drive`.

Each takes its options object (:mod:`migrepo.engine.options`) by keyword.
These functions raise :mod:`migrepo.errors` exceptions and Alembic's
``CommandError``; ``flask db`` turns those into one-line messages, and the
Flask-Migrate style functions in :mod:`migrepo._api` log them and exit.
Alembic is imported inside each function, never at module import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from migrepo.engine import drive
from migrepo.engine.checks import (
    check_editor,
    check_merge_revisions,
    check_rev_id,
    check_rev_id_is_new,
    check_rev_range,
    check_target,
    check_version_path,
    revision_message,
)
from migrepo.engine.hooks import failed_hook_keeps_file
from migrepo.errors import MigrepoError

if TYPE_CHECKING:
    import networkx as nx
    from alembic.script import Script

    from migrepo._config import Config
    from migrepo._extension import MigrateState
    from migrepo.engine.options import (
        BranchesOptions,
        CheckOptions,
        CurrentOptions,
        EditOptions,
        HeadsOptions,
        HistoryOptions,
        MergeOptions,
        MoveOptions,
        RevisionOptions,
        ShowOptions,
        StampOptions,
    )
    from migrepo.engine.run import Run

XArgs = str | Sequence[str] | None

log = logging.getLogger("migrepo")


def state() -> MigrateState:
    """The ``app.extensions['migrate']`` of the current app, or a clear error."""
    from migrepo.engine.run import state as current_state

    return current_state()


def new_run(
    directory: str | os.PathLike[str] | None = None,
    *,
    x_arg: XArgs = None,
    opts: tuple[str, ...] = (),
    require_repository: bool = True,
) -> Run:
    """The :class:`~migrepo.engine.run.Run` of one command, for the current app.

    The run module (and its dataclasses) loads when a command runs, not when
    ``migrepo`` is imported.
    """
    from migrepo.engine.run import Run

    return Run.for_app(
        directory, x_arg=x_arg, opts=opts, require_repository=require_repository
    )


def resolve_directory(directory: str | os.PathLike[str] | None) -> str:
    return os.fspath(directory) if directory is not None else state().directory


def get_config(
    directory: str | os.PathLike[str] | None,
    *,
    x_arg: XArgs = None,
    opts: Sequence[str] | None = None,
    require_repository: bool = True,
) -> Config:
    """The app's Alembic Config for ``directory``, after the configure callbacks."""
    run = new_run(
        directory, x_arg=x_arg, opts=tuple(opts or ()), require_repository=require_repository
    )
    return run.config


# --- writing revision files --------------------------------------------------


def revision(*, options: RevisionOptions) -> list[Script]:
    """Write a new revision file; with ``autogenerate``, from the model/database diff."""
    check_rev_id(options.rev_id)
    run = new_run(
        options.directory,
        x_arg=options.x_arg,
        opts=("autogenerate",) if options.autogenerate else (),
    )
    check_rev_id_is_new(run.config, options.rev_id)
    check_version_path(run.config, options.version_path)
    message = revision_message(run.config, options.message)
    with failed_hook_keeps_file(run.config, partial(_record_heads, run)), run.recording(None):
        scripts = drive.revision(
            run,
            message=message,
            autogenerate=options.autogenerate,
            sql=options.sql,
            head=options.head,
            splice=options.splice,
            branch_label=options.branch_label,
            version_path=options.version_path,
            rev_id=options.rev_id,
        )
    written = _as_list(scripts)
    if written:
        _record_heads(run)
    return written


def merge(*, options: MergeOptions, run: Run | None = None) -> Script | None:
    """Write a revision that joins ``revisions``."""
    check_rev_id(options.rev_id)
    run = run or new_run(options.directory)
    check_merge_revisions(options.revisions)
    check_rev_id_is_new(run.config, options.rev_id)
    message = revision_message(run.config, options.message)
    with failed_hook_keeps_file(run.config, partial(_record_heads, run)):
        script = drive.merge(
            run,
            options.revisions,
            message=message,
            branch_label=options.branch_label,
            rev_id=options.rev_id,
        )
    if script is not None:
        _record_heads(run)
    return script


def write_heads(
    directory: str | os.PathLike[str] | None = None, config: Config | None = None
) -> tuple[str, list[str]]:
    """Rewrite the HEADS file from the revision graph; returns its path and the heads.

    ``config`` is the Config a command already built, so that the configure
    callbacks run once per command.
    """
    from migrepo.store import heads_file as _integrity

    path = resolve_directory(directory)
    graph = graph_of(config if config is not None else get_config(path))
    tips = _integrity.expected_heads(graph)
    return _integrity.write(path, tips), tips


def _record_heads(run: Run) -> None:
    """Keep HEADS up to date after a revision was written; never fail the command."""
    from migrepo._text import mask_passwords
    from migrepo.store.heads_file import HEADS_FILE

    try:
        write_heads(run.directory, run.config)
    except (MigrepoError, OSError) as exc:
        log.warning(
            "%s not updated: %s. Once that is fixed, run `flask db heads --write`.",
            HEADS_FILE,
            mask_passwords(str(exc)),
        )


def edit(*, options: EditOptions) -> None:
    """Open a revision file in ``$EDITOR``."""
    check_editor()
    drive.edit(new_run(options.directory), options.revision)


# --- moving the database -----------------------------------------------------


def upgrade(*, options: MoveOptions) -> None:
    """Upgrade the database to ``options.revision`` (default ``head``).

    The run holds the migration lock and commits each revision on its own
    (see :meth:`Run.moving <migrepo.engine.run.Run.moving>`).
    """
    revision = options.revision or "head"
    check_target(revision)
    with _changing(options, "upgrade") as run:
        if not options.sql:
            from migrepo.engine.dirty import refuse_if_dirty

            refuse_if_dirty(run)
        drive.upgrade(run, revision, sql=options.sql, tag=options.tag)


def downgrade(*, options: MoveOptions) -> None:
    """Downgrade the database to ``options.revision`` (default ``-1``); as :func:`upgrade`."""
    revision = options.revision or "-1"
    check_target(revision)
    if options.sql and revision == "-1":
        # Offline mode has no database to count back from.
        revision = "head:-1"
    with _changing(options, "downgrade") as run:
        drive.downgrade(run, revision, sql=options.sql, tag=options.tag)


def stamp(*, options: StampOptions) -> None:
    """Set the database's revision without running migrations; as :func:`upgrade`."""
    with _changing(options, "stamp") as run:
        drive.stamp(
            run, options.revision, sql=options.sql, tag=options.tag, purge=options.purge
        )


@contextmanager
def _changing(options: MoveOptions | StampOptions, direction: str) -> Iterator[Run]:
    """The frame of ``upgrade``, ``downgrade`` and ``stamp``: one run, holding the
    migration lock (except with ``--sql``) in the options' transaction mode, and
    recording ``direction`` steps in the ledger."""
    run = new_run(options.directory, x_arg=options.x_arg)
    run.config  # noqa: B018 - a missing migrations directory is reported before the lock
    with run.moving(
        lock=not options.sql,
        lock_timeout=options.lock_timeout,
        single_transaction=options.single_transaction,
    ), run.recording(direction):
        yield run


def check(*, options: CheckOptions) -> None:
    """Raise ``AutogenerateDiffsDetected`` when the models and the database differ."""
    run = new_run(options.directory, x_arg=options.x_arg)
    with run.recording(None):
        drive.check(run)


# --- reading -----------------------------------------------------------------


def show(*, options: ShowOptions, run: Run | None = None) -> None:
    drive.show(run or new_run(options.directory), options.revision)


def history(*, options: HistoryOptions, run: Run | None = None) -> None:
    check_rev_range(options.rev_range)
    drive.history(
        run or new_run(options.directory, x_arg=options.x_arg),
        options.rev_range,
        verbose=options.verbose,
        indicate_current=options.indicate_current,
    )


def heads(*, options: HeadsOptions) -> None:
    drive.heads(
        new_run(options.directory),
        verbose=options.verbose,
        resolve_dependencies=options.resolve_dependencies,
    )


def branches(*, options: BranchesOptions) -> None:
    drive.branches(new_run(options.directory), verbose=options.verbose)


def current(*, options: CurrentOptions) -> None:
    run = new_run(options.directory, x_arg=options.x_arg)
    drive.current(run, verbose=options.verbose)


def _as_list(scripts: Any) -> list[Any]:
    if scripts is None:
        return []
    return list(scripts) if isinstance(scripts, list) else [scripts]


# --- the revision graph ------------------------------------------------------


def revision_graph(directory: str | os.PathLike[str] | None = None) -> nx.DiGraph:
    """The revision graph of a migrations directory, as an ``nx.DiGraph``.

    Nodes are revision ids carrying their ``record``; edges run parent ->
    child. No revision file is executed unless its identifiers are not
    plain literals. Raises a :class:`~migrepo.errors.GraphError` for a file
    that cannot be read or a graph that is unsound.
    """
    return graph_of(get_config(directory))


def graph_of(config: Config) -> nx.DiGraph:
    """The revision graph of the migrations directory ``config`` points at."""
    from migrepo.graph import build_graph
    from migrepo.store.reader import read_revision_files

    files = read_revision_files(config)
    for found in files:
        if found.error is not None:
            raise found.error
    return build_graph(found.record for found in files if found.record is not None)
