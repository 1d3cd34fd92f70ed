"""The ledger table: its definition, its race-safe creation and reading its rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

T = TypeVar("T")


class Runner(Protocol):
    def __call__(
        self, engine: sa.Engine, fn: Callable[[sa.Connection], T], *, begin: bool = False
    ) -> T: ...

DEFAULT_TABLE = "migrepo_ledger"

def ledger_table(name: str = DEFAULT_TABLE, schema: str | None = None) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(40)),
        sa.Column("git_commit", sa.String(40)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("applied_by", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("migrepo_version", sa.String(32), nullable=False),
        schema=schema,
    )


def create_table(engine: sa.Engine, table: sa.Table, *, run: Runner | None = None) -> None:
    """Create the ledger table unless it exists, in a transaction of its own.

    Safe when apps with other version tables (so other migration locks)
    share the database. On PostgreSQL the creators take turns on an advisory
    transaction lock of their own (``CREATE TABLE IF NOT EXISTS`` alone still
    races there, on ``pg_type``). MySQL and MariaDB settle it themselves with
    ``CREATE TABLE IF NOT EXISTS`` (their metadata locks serialise it, and it
    reads no ``information_schema``, which fails on a table being created).
    Anywhere, a creator that still loses the race finds the table there.

    ``run`` opens the connection (default: straight from ``engine``, as inside
    a migration; :func:`migrepo.db.io.run_on` from outside one).
    """
    from sqlalchemy.schema import CreateTable

    from migrepo.db.lock import lock_key

    def create(connection: sa.Connection) -> None:
        dialect = connection.dialect.name
        if dialect in ("mysql", "mariadb"):
            connection.execute(CreateTable(table, if_not_exists=True))
            return
        if dialect == "postgresql":
            key = lock_key(f"ledger:{table.name}", table.schema)
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")
        table.create(connection, checkfirst=True)

    def exists(connection: sa.Connection) -> bool:
        return bool(sa.inspect(connection).has_table(table.name, schema=table.schema))

    run = run or _direct
    try:
        run(engine, create, begin=True)
    except sa.exc.DBAPIError:
        if run(engine, exists):
            return  # another run created it between our check and our CREATE
        raise


def _direct(engine: sa.Engine, fn: Callable[[sa.Connection], T], *, begin: bool = False) -> T:
    with engine.begin() if begin else engine.connect() as connection:
        return fn(connection)


def read_rows(
    engine: sa.Engine,
    table_name: str,
    schema: str | None,
    *,
    limit: int | None,
    revision: str | None,
    prefix: bool = False,
) -> list[dict[str, Any]]:
    """Ledger rows, newest first; an empty list when the table does not exist.

    ``revision`` keeps the rows of that revision id, or with ``prefix`` of
    every id that starts with it. ``engine`` may use an async driver (see
    :func:`migrepo.db.io.run_on`). A row whose ``started_at`` the database
    hands back as something that is not a moment (SQLite stores text, and
    anyone can write it) gets None there: one bad row never hides the others.
    """
    from migrepo.db.io import run_on

    table = ledger_table(table_name, schema)
    # Read the column without SQLAlchemy's conversion, which fails on bad text.
    started = sa.type_coerce(table.c.started_at, sa.String).label("started_at")
    columns = [started if column.name == "started_at" else column for column in table.c]

    def read(connection: sa.Connection) -> list[dict[str, Any]]:
        if not sa.inspect(connection).has_table(table_name, schema=schema):
            return []
        query = sa.select(*columns).order_by(table.c.id.desc())
        if revision is not None and prefix:
            query = query.where(table.c.revision.startswith(revision, autoescape=True))
        elif revision is not None:
            query = query.where(table.c.revision == revision)
        if limit is not None:
            query = query.limit(limit)
        return [dict(row._mapping) for row in connection.execute(query)]

    rows = run_on(engine, read)
    for row in rows:
        row["started_at"] = _moment(row["started_at"])
    return rows


def _moment(value: Any) -> datetime | None:
    """A ``started_at`` value as a datetime, or None when it is not one."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
