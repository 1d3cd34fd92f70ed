"""What a migrepo env.py calls to run Alembic's migrations for a Flask app.

The generated env.py stays a few lines long and calls :func:`run_migrations`,
so fixes here reach every project with a package upgrade. The engine or
engines and the metadata come from ``current_app.extensions['migrate']``,
exactly where Flask-Migrate's env.py files look for them.

The command's per-run hooks (the ledger recorder, the filter that hides the
ledger table, the transaction mode) are not passed here: they sit in
``context.config.attributes`` and the command's EnvironmentContext adds them
to each ``context.configure()`` call (see :mod:`migrepo.engine.run`), this
module's and those of env.py files written for Flask-Migrate alike.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from alembic.operations.ops import MigrationScript
from alembic.runtime.environment import EnvironmentContext
from flask import current_app
from sqlalchemy import Connection, Engine, MetaData

from migrepo.errors import AppContextError

log = logging.getLogger("alembic.env")

Directives = list[MigrationScript]


def run_migrations(
    context: EnvironmentContext,
    *,
    multidb: bool = False,
    asynchronous: bool = False,
    **configure_args: Any,
) -> None:
    """Run the migrations Alembic asked for, online or offline (``--sql``).

    Parameters
    ----------
    context
        ``alembic.context`` as env.py sees it.
    multidb
        Migrate the default database and every Flask-SQLAlchemy bind, each
        with its own metadata; revision files then hold ``upgrade_<bind>()``
        functions.
    asynchronous
        Drive the engines through ``sqlalchemy.ext.asyncio`` (for async
        drivers such as aiosqlite or asyncpg).
    **configure_args
        Passed to ``context.configure()``, over the ``Migrate(...)`` keywords.
    """
    db = _database()
    args = {**_state().configure_args, **configure_args}
    names = [""] + (bind_names() if multidb else [])
    # `flask db test` and drift run on a throwaway database: its engines, not the app's.
    targets = context.config.attributes.get("migrepo.targets") or {}
    engines = {name: targets.get(name) or _engine(db, name) for name in names}
    for name, engine in engines.items():
        url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
        if name:
            context.config.set_section_option(name, "sqlalchemy.url", url)
        else:
            context.config.set_main_option("sqlalchemy.url", url)

    if context.is_offline_mode():
        _run_offline(context, engines, multidb, args)
        return
    args.setdefault("process_revision_directives", _skip_empty(context, len(names)))
    if not asynchronous or not engines[""].dialect.is_async:
        # A sync driver under an async template still migrates, synchronously.
        _run_online(context, engines, multidb, args)
    else:
        asyncio.run(_run_online_async(context, engines, multidb, args))


def bind_names() -> list[str]:
    """The Flask-SQLAlchemy bind keys of the current app, in configuration order."""
    binds = current_app.config.get("SQLALCHEMY_BINDS")
    if binds is not None:
        return list(binds)
    return [key for key in getattr(_database(), "engines", {}) if key is not None]


def metadata(bind: str = "") -> MetaData:
    """The metadata that autogenerate compares with bind ``bind`` ('' is the default)."""
    db = _database()
    if hasattr(db, "metadatas"):
        return db.metadatas[bind or None]
    return db.metadata


# --- online and offline runs -------------------------------------------------


def _run_offline(
    context: EnvironmentContext, engines: dict[str, Engine], multidb: bool, args: dict[str, Any]
) -> None:
    args.pop("process_revision_directives", None)
    if not multidb:
        context.configure(
            url=engines[""].url, target_metadata=metadata(), literal_binds=True, **args
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    # One script per database, written next to the working directory as <bind>.sql
    # (".sql" for the default database), as Flask-Migrate does.
    from migrepo.engine.run import HOOKS

    # `flask db sql` and `lint` record the statements themselves: no file is opened.
    to_files = getattr(context.config.attributes.get(HOOKS), "write_sql_files", True)
    for name, engine in engines.items():
        log.info("Migrating database %s", name or "<default>")
        if to_files:
            log.info("Writing output to %s.sql", name)
        with _script_file(f"{name}.sql") if to_files else io.StringIO() as buffer:
            context.configure(
                url=engine.url,
                output_buffer=buffer,
                target_metadata=metadata(name),
                literal_binds=True,
                **args,
            )
            with context.begin_transaction():
                context.run_migrations(engine_name=name)


def _script_file(path: str) -> Any:
    return open(path, "w", encoding="utf-8")


def _run_online(
    context: EnvironmentContext, engines: dict[str, Engine], multidb: bool, args: dict[str, Any]
) -> None:
    with ExitStack() as stack:
        connections = {name: stack.enter_context(e.connect()) for name, e in engines.items()}
        _migrate_connections(context, connections, multidb, args)


async def _run_online_async(
    context: EnvironmentContext, engines: dict[str, Engine], multidb: bool, args: dict[str, Any]
) -> None:
    from contextlib import AsyncExitStack

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    async with AsyncExitStack() as stack:
        async_connections: dict[str, AsyncConnection] = {}
        for name, engine in engines.items():
            async_engine = AsyncEngine(engine)
            # Pooled async connections belong to this event loop: close them with it.
            stack.push_async_callback(async_engine.dispose)
            async_connections[name] = await stack.enter_async_context(async_engine.connect())
        first = async_connections[""]

        def migrate(_: Connection) -> None:
            # Each AsyncConnection wraps a sync connection that run_sync may drive.
            connections = {n: c.sync_connection for n, c in async_connections.items()}
            _migrate_connections(context, connections, multidb, args)  # type: ignore[arg-type]

        await first.run_sync(migrate)


def _migrate_connections(
    context: EnvironmentContext,
    connections: dict[str, Connection],
    multidb: bool,
    args: dict[str, Any],
) -> None:
    if not multidb:
        context.configure(connection=connections[""], target_metadata=metadata(), **args)
        with context.begin_transaction():
            context.run_migrations()
        return
    # One transaction per database, all committed only when every database succeeded.
    with _all_or_nothing(connections):
        for name, connection in connections.items():
            log.info("Migrating database %s", name or "<default>")
            context.configure(
                connection=connection,
                upgrade_token=f"{name}_upgrades",
                downgrade_token=f"{name}_downgrades",
                target_metadata=metadata(name),
                **args,
            )
            context.run_migrations(engine_name=name)


@contextmanager
def _all_or_nothing(connections: dict[str, Connection]) -> Iterator[None]:
    transactions = [connection.begin() for connection in connections.values()]
    try:
        yield
    except BaseException:
        for transaction in transactions:
            transaction.rollback()
        raise
    for transaction in transactions:
        transaction.commit()


def _skip_empty(
    context: EnvironmentContext, databases: int
) -> Callable[[Any, Any, Directives], None]:
    """Write no revision file when autogenerate finds nothing to do."""

    def process_revision_directives(_ctx: Any, _revision: Any, directives: Directives) -> None:
        if not getattr(context.config.cmd_opts, "autogenerate", False) or not directives:
            return
        script = directives[0]
        ops = script.upgrade_ops_list
        if len(ops) >= databases and all(op.is_empty() for op in ops):
            directives[:] = []
            log.info("No changes in schema detected.")

    return process_revision_directives


# --- the app's database ------------------------------------------------------


def _state() -> Any:
    try:
        found = current_app.extensions.get("migrate")
    except RuntimeError:
        raise AppContextError("env.py must run inside a Flask app context") from None
    if found is None:
        raise AppContextError(
            "the app has no migrepo extension: create it with `Migrate(app, db)`"
        )
    return found


def _database() -> Any:
    db = _state().db
    if db is None:
        raise AppContextError(
            "Migrate was set up without a database: pass the Flask-SQLAlchemy instance, "
            "as in `Migrate(app, db)`"
        )
    return db


def _engine(db: Any, bind: str) -> Engine:
    engines = getattr(db, "engines", None)
    if engines is not None:
        engine = engines.get(bind or None)
        if engine is None:
            raise AppContextError(
                f"Flask-SQLAlchemy has no engine for bind {bind!r}: "
                "add it to SQLALCHEMY_BINDS"
            )
        return engine
    return db.engine
