"""The migration commands: each resolves the app's settings and runs Alembic.

These functions raise :mod:`migrepo.errors` exceptions and Alembic's
``CommandError``; ``flask db`` turns those into one-line messages, and the
Flask-Migrate style functions in :mod:`migrepo._api` log them and exit.
Alembic is imported inside each function, never at module import.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from migrepo.engine.checks import (
    check_editor,
    check_merge_revisions,
    check_rev_id,
    check_rev_id_is_new,
    check_rev_range,
    check_target,
    check_version_locations,
    check_version_path,
    find_template,
    revision_message,
)
from migrepo.engine.hooks import failed_hook_keeps_file
from migrepo.errors import AppContextError, MigrepoError, RepositoryError, UsageError

if TYPE_CHECKING:
    import networkx as nx
    from alembic.script import Script

    from migrepo._config import Config
    from migrepo._extension import MigrateState


XArgs = str | Sequence[str] | None

log = logging.getLogger("migrepo")


def state() -> MigrateState:
    """The ``app.extensions['migrate']`` of the current app, or a clear error."""
    try:
        extensions = current_app.extensions
    except RuntimeError:
        raise AppContextError(
            "no Flask application context: run this inside `with app.app_context():`"
        ) from None
    found = extensions.get("migrate")
    if found is None:
        raise AppContextError(
            f"the app {current_app.name!r} has no migrepo extension: "
            "create it with `Migrate(app, db)` or `migrate.init_app(app, db)`"
        )
    return found


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
    current = state()
    path = resolve_directory(directory)
    if not require_repository:
        return current.migrate.get_config(path, x_arg=x_arg, opts=opts)
    _check_repository(path)
    config = current.migrate.get_config(path, x_arg=x_arg, opts=opts)
    check_version_locations(config)
    return config


def _check_repository(path: str) -> None:
    if not os.path.isdir(path):
        raise RepositoryError(
            f"no migrations directory at {path!r}: run `flask db init` to create it, "
            "or pass `-d DIRECTORY`"
        )
    if not os.path.isfile(os.path.join(path, "env.py")):
        raise RepositoryError(
            f"{path!r} is not a migrations directory (it has no env.py): "
            "run `flask db init` on an empty directory, or pass `-d DIRECTORY`"
        )


def ledger(directory: str | os.PathLike[str] | None, direction: str | None) -> Any:
    """The ledger hook for one command (see :func:`migrepo.db.ledger.recording`)."""
    from migrepo.db.ledger import DEFAULT_TABLE, recording

    current = state()

    def engine_for(bind: str) -> Any:
        engines = getattr(current.db, "engines", None)
        return engines.get(bind or None) if engines is not None else None

    return recording(
        current.configure_args,
        directory=resolve_directory(directory),
        table_name=current_app.config.get("MIGREPO_LEDGER_TABLE", DEFAULT_TABLE),
        direction=direction,
        engine_for=engine_for,
    )


@contextmanager
def indexed() -> Iterator[None]:
    """Alembic's commands, reading revisions through migrepo's index.

    ``MIGREPO_INDEX = False`` in the app config makes Alembic load every file itself.
    """
    if not _index_enabled():
        yield
        return
    from migrepo.engine.scripts import indexed_script_directory

    with indexed_script_directory():
        yield


def _index_enabled() -> bool:
    state()  # outside an app context, say so before anything else
    return bool(current_app.config.get("MIGREPO_INDEX", True))


def script_directory(config: Config) -> Any:
    """The ScriptDirectory for ``config``: indexed unless ``MIGREPO_INDEX`` is off."""
    from alembic.script import ScriptDirectory

    if not _index_enabled():
        return ScriptDirectory.from_config(config)
    from migrepo.engine.scripts import IndexedScriptDirectory

    return IndexedScriptDirectory.from_config(config)


# --- templates and init ------------------------------------------------------


def list_templates() -> list[tuple[str, str]]:
    """The packaged templates, as ``(name, summary)`` pairs sorted by name."""
    from migrepo._config import TEMPLATES

    found = []
    for folder in sorted(TEMPLATES.iterdir()):
        readme = folder / "README"
        if readme.is_file():
            summary = readme.read_text(encoding="utf-8").splitlines()[0].strip()
            found.append((folder.name, summary))
    return found


def init(
    directory: str | os.PathLike[str] | None = None,
    multidb: bool = False,
    template: str | None = None,
    package: bool = False,
) -> str:
    """Create a migrations directory from a template; returns its path."""
    from alembic import command

    from migrepo._config import InitConfig

    path = resolve_directory(directory)
    if os.path.exists(path) and not os.path.isdir(path):
        raise RepositoryError(
            f"cannot create migrations directory {path!r}: a file is in the way; "
            "pass `-d DIRECTORY` to create it elsewhere"
        )
    if os.path.isdir(path) and os.listdir(path):
        raise RepositoryError(
            f"migrations directory {path!r} already exists and is not empty: "
            "pass `-d DIRECTORY` to create one elsewhere"
        )
    _check_parents_are_directories(path)
    template_directory = None
    if template is not None:
        template_directory, template = find_template(template)
    if template is None:
        template = "flask-multidb" if multidb else "flask"
    elif multidb and template_directory is None and template in ("flask", "aioflask"):
        template += "-multidb"  # the multi-database version of a packaged template
    ini = os.path.join(path, "alembic.ini")
    written = [Path(ini).absolute()]
    if package:
        written += [Path(path, "__init__.py"), Path(path, "versions", "__init__.py")]
    # migrepo's own templates: Alembic's closing "edit the connection settings in
    # alembic.ini" is wrong for them, so it gives way to an accurate line.
    ours = template_directory is None
    initial = InitConfig(template_directory=template_directory, written=written if ours else ())
    initial.set_main_option("script_location", path.replace("%", "%%"))
    initial.config_file_name = ini
    config = state().migrate.call_configure_callbacks(initial)
    command.init(config, path, template=template, package=package)
    from migrepo.store import heads_file as _integrity

    _integrity.write(path, [])
    if ours:
        from alembic.util import msg

        msg(
            "The database URL comes from the app (SQLALCHEMY_DATABASE_URI and "
            f"SQLALCHEMY_BINDS); edit {Path(ini).absolute()} for Alembic's other settings "
            "and logging."
        )
    return path


def _check_parents_are_directories(path: str) -> None:
    """os.makedirs would fail with a bare NotADirectoryError."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise RepositoryError(
            f"cannot create migrations directory {path!r}: {parent!r} is not a directory; "
            "pass `-d DIRECTORY` to create it elsewhere"
        )


# --- writing revision files --------------------------------------------------


def revision(
    directory: str | os.PathLike[str] | None = None,
    message: str | None = None,
    autogenerate: bool = False,
    sql: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | None = None,
    version_path: str | None = None,
    rev_id: str | None = None,
    x_arg: XArgs = None,
) -> list[Script]:
    """Write a new revision file; with ``autogenerate``, from the model/database diff."""
    from alembic import command

    check_rev_id(rev_id)
    config = get_config(directory, x_arg=x_arg, opts=["autogenerate"] if autogenerate else None)
    check_rev_id_is_new(config, rev_id)
    check_version_path(config, version_path)
    message = revision_message(config, message)
    kept = partial(_record_heads, directory, config)
    with failed_hook_keeps_file(config, kept), ledger(directory, None), indexed():
        scripts = command.revision(
            config,
            message,
            autogenerate=autogenerate,
            sql=sql,
            head=head,
            splice=splice,
            branch_label=branch_label,
            version_path=version_path,
            rev_id=rev_id,
        )
    written = _as_list(scripts)
    if written:
        _record_heads(directory, config)
    return written


def merge(
    directory: str | os.PathLike[str] | None = None,
    revisions: str | list[str] | tuple[str, ...] = "",
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
) -> Script | None:
    """Write a revision that joins ``revisions``."""
    from alembic import command

    check_rev_id(rev_id)
    config = get_config(directory)
    check_merge_revisions(revisions)
    check_rev_id_is_new(config, rev_id)
    message = revision_message(config, message)
    with failed_hook_keeps_file(config, partial(_record_heads, directory, config)), indexed():
        script = command.merge(
            config, revisions, message=message, branch_label=branch_label, rev_id=rev_id
        )
    if script is not None:
        _record_heads(directory, config)
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


def _record_heads(directory: str | os.PathLike[str] | None, config: Config) -> None:
    """Keep HEADS up to date after a revision was written; never fail the command."""
    from migrepo._text import mask_passwords
    from migrepo.store.heads_file import HEADS_FILE

    try:
        write_heads(directory, config)
    except (MigrepoError, OSError) as exc:
        log.warning(
            "%s not updated: %s. Once that is fixed, run `flask db heads --write`.",
            HEADS_FILE,
            mask_passwords(str(exc)),
        )


def edit(directory: str | os.PathLike[str] | None = None, revision: str = "current") -> None:
    """Open a revision file in ``$EDITOR``."""
    from alembic import command

    check_editor()
    with indexed():
        command.edit(get_config(directory), revision)


# --- one run at a time, one transaction per revision ---------------------------


@contextmanager
def migration_run(
    directory: str | os.PathLike[str] | None,
    *,
    lock: bool = True,
    lock_timeout: float | None = None,
    single_transaction: bool | None = None,
) -> Iterator[None]:
    """The frame of a command that moves the database: the lock and the transactions.

    With ``lock``, the migration lock of the app's default database (see
    :mod:`migrepo.db.lock`) is held for the whole block, so Alembic reads the
    current revision only once no other run can change it. Every run of
    the app takes this one lock first, single or multi-database, so runs of
    one app never overlap on its binds either. ``lock_timeout`` (default:
    ``MIGREPO_LOCK_TIMEOUT``, else no limit) bounds the wait.

    Each revision commits in a transaction of its own, with its version
    update and its ledger row (Alembic's ``transaction_per_migration``).
    ``single_transaction`` (default: ``MIGREPO_SINGLE_TRANSACTION``, else
    ``Migrate(..., transaction_per_migration=...)``) restores one
    transaction for the whole run. migrepo's multi-database runtime always
    runs one transaction per database for the whole run, committed only
    when every database succeeded.
    """
    args = state().configure_args
    per_revision = _transaction_per_revision(args, single_transaction)
    with ExitStack() as stack:
        if lock:
            stack.enter_context(_database_lock(directory, _lock_timeout(lock_timeout)))
        had, saved = "transaction_per_migration" in args, args.get("transaction_per_migration")
        args["transaction_per_migration"] = per_revision
        try:
            yield
        finally:
            if had:
                args["transaction_per_migration"] = saved
            else:
                args.pop("transaction_per_migration", None)


def _database_lock(directory: str | os.PathLike[str] | None, timeout: float | None) -> Any:
    from contextlib import nullcontext

    from migrepo.db.lock import migration_lock

    current = state()
    engine = _default_engine(current.db)
    if engine is None:  # no database: the command itself says so
        return nullcontext()
    return migration_lock(
        engine,
        version_table=current.configure_args.get("version_table") or "alembic_version",
        schema=current.configure_args.get("version_table_schema"),
        timeout=timeout,
        directory=resolve_directory(directory),
    )


def _default_engine(db: Any) -> Any:
    if db is None:
        return None
    engines = getattr(db, "engines", None)
    if engines is not None:
        return engines.get(None)
    return getattr(db, "engine", None)


def _lock_timeout(value: float | None) -> float | None:
    """Seconds to wait for the lock: the argument, else ``MIGREPO_LOCK_TIMEOUT``; None waits."""
    source = "--lock-timeout"
    if value is None:
        value = current_app.config.get("MIGREPO_LOCK_TIMEOUT")
        source = "MIGREPO_LOCK_TIMEOUT"
        if value is None:
            return None
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not seconds > 0:
        raise UsageError(f"invalid {source} {value!r}: give a number of seconds above 0")
    return None if math.isinf(seconds) else seconds


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _transaction_per_revision(args: dict[str, Any], single_transaction: bool | None) -> bool:
    """The argument, else ``MIGREPO_SINGLE_TRANSACTION``, else ``Migrate(...)``'s, else True."""
    if single_transaction is None:
        configured = current_app.config.get("MIGREPO_SINGLE_TRANSACTION")
        if isinstance(configured, str) and configured.strip().lower() in _TRUE | _FALSE:
            configured = configured.strip().lower() in _TRUE
        if configured is not None and not isinstance(configured, bool):
            raise UsageError(
                f"invalid MIGREPO_SINGLE_TRANSACTION {configured!r}: use True or False"
            )
        single_transaction = configured
    if single_transaction is not None:
        return not single_transaction
    return bool(args.get("transaction_per_migration", True))


# --- moving the database -----------------------------------------------------


def upgrade(
    directory: str | os.PathLike[str] | None = None,
    revision: str = "head",
    sql: bool = False,
    tag: str | None = None,
    x_arg: XArgs = None,
    *,
    lock_timeout: float | None = None,
    single_transaction: bool | None = None,
) -> None:
    """Upgrade the database to ``revision``; see :func:`migration_run` for the last two."""
    check_target(revision)
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    with migration_run(
        directory, lock=not sql, lock_timeout=lock_timeout, single_transaction=single_transaction
    ), ledger(directory, "upgrade"), indexed():
        command.upgrade(config, revision, sql=sql, tag=tag)


def downgrade(
    directory: str | os.PathLike[str] | None = None,
    revision: str = "-1",
    sql: bool = False,
    tag: str | None = None,
    x_arg: XArgs = None,
    *,
    lock_timeout: float | None = None,
    single_transaction: bool | None = None,
) -> None:
    """Downgrade the database to ``revision``; see :func:`migration_run` for the last two."""
    check_target(revision)
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    if sql and revision == "-1":
        # Offline mode has no database to count back from.
        revision = "head:-1"
    with migration_run(
        directory, lock=not sql, lock_timeout=lock_timeout, single_transaction=single_transaction
    ), ledger(directory, "downgrade"), indexed():
        command.downgrade(config, revision, sql=sql, tag=tag)


def stamp(
    directory: str | os.PathLike[str] | None = None,
    revision: str | list[str] | tuple[str, ...] = "head",
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
    x_arg: XArgs = None,
    *,
    lock_timeout: float | None = None,
    single_transaction: bool | None = None,
) -> None:
    """Set the database's revision; see :func:`migration_run` for the last two."""
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    with migration_run(
        directory, lock=not sql, lock_timeout=lock_timeout, single_transaction=single_transaction
    ), ledger(directory, "stamp"), indexed():
        command.stamp(config, revision, sql=sql, tag=tag, purge=purge)


def check(directory: str | os.PathLike[str] | None = None, x_arg: XArgs = None) -> None:
    """Raise ``AutogenerateDiffsDetected`` when the models and the database differ."""
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    with ledger(directory, None), indexed():
        command.check(config)


# --- reading -----------------------------------------------------------------


def show(directory: str | os.PathLike[str] | None = None, revision: str = "head") -> None:
    from alembic import command

    with indexed():
        command.show(get_config(directory), revision)


def history(
    directory: str | os.PathLike[str] | None = None,
    rev_range: str | None = None,
    verbose: bool = False,
    indicate_current: bool = False,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    check_rev_range(rev_range)
    with indexed():
        command.history(
            get_config(directory, x_arg=x_arg),
            rev_range,
            verbose=verbose,
            indicate_current=indicate_current,
        )


def heads(
    directory: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    resolve_dependencies: bool = False,
) -> None:
    from alembic import command

    with indexed():
        command.heads(
            get_config(directory), verbose=verbose, resolve_dependencies=resolve_dependencies
        )


def branches(directory: str | os.PathLike[str] | None = None, verbose: bool = False) -> None:
    from alembic import command

    with indexed():
        command.branches(get_config(directory), verbose=verbose)


def current(
    directory: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    with indexed():
        command.current(get_config(directory, x_arg=x_arg), verbose=verbose)


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


def current_revisions(
    directory: str | os.PathLike[str] | None = None, x_arg: XArgs = None
) -> set[str]:
    """The revisions the database (every database, for multidb) is at."""
    from alembic.runtime.environment import EnvironmentContext

    config = get_config(directory, x_arg=x_arg)
    script = script_directory(config)
    found: set[str] = set()

    def collect(_rev: Any, context: Any) -> list[Any]:
        found.update(context.get_current_heads())
        return []

    with EnvironmentContext(config, script, fn=collect, dont_mutate=True):
        script.run_env()
    return found


# --- the ledger --------------------------------------------------------------


def ledger_entries(
    directory: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    revision: str | None = None,
    *,
    prefix: bool = False,
) -> list[dict[str, Any]]:
    """Ledger rows of every database the app migrates, newest first.

    Each row holds the ledger's columns plus ``database``: the
    Flask-SQLAlchemy bind key, '' for the default database. With ``prefix``,
    ``revision`` keeps the rows of every id that starts with it.
    """
    from migrepo.db.ledger import DEFAULT_TABLE, read_rows

    current = state()
    if current.db is None:
        raise AppContextError("Migrate was set up without a database: use `Migrate(app, db)`")
    table = current_app.config.get("MIGREPO_LEDGER_TABLE", DEFAULT_TABLE)
    schema = current.configure_args.get("version_table_schema")
    rows: list[dict[str, Any]] = []
    for bind, engine in current.db.engines.items():
        for row in read_rows(
            engine, table, schema, limit=limit, revision=revision, prefix=prefix
        ):
            row["database"] = bind or ""
            rows.append(row)
    rows.sort(key=lambda row: (_naive(row["started_at"]), row["id"]), reverse=True)
    return rows[:limit] if limit is not None else rows


def _naive(moment: Any) -> Any:
    """SQLite hands back naive datetimes; compare every row in UTC without a zone."""
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(
        UTC
    ).replace(tzinfo=None)
