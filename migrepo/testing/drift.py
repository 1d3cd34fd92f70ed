"""Drift: does the live database match what its own history produces?

The history is replayed, up to the live database's current revision, in a
throwaway database (see :func:`migrepo.testing.throwaway_database`). Then
Alembic's autogenerate comparison (``compare_metadata``) compares the live
database with a MetaData reflected from the replayed one: tables, columns,
types, nullability, server defaults, indexes, unique and foreign-key
constraints. Check constraints, which autogenerate does not compare, are
compared from SQLAlchemy's inspector.

The live database is only read: one connection, whose transaction is rolled
back, and nothing is created in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from migrepo.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData

    from migrepo.testing import Target


@dataclass(frozen=True)
class Difference:
    """One way the live database differs from its replayed history.

    ``kind`` is one of ``extra table``, ``missing table``, ``extra column``,
    ``missing column``, ``type``, ``nullable``, ``server default``,
    ``extra index``, ``missing index``, ``extra unique constraint``,
    ``missing unique constraint``, ``extra foreign key``, ``missing foreign key``,
    ``check constraints``. "Extra" is in the live database only, "missing" in
    the history only. ``live`` and ``history`` hold the two values where the
    kind compares a value.
    """

    kind: str
    name: str
    live: str | None = None
    history: str | None = None
    bind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"[{self.bind}] " if self.bind else ""
        values = f": live {self.live}, history {self.history}" if self.kind in _VALUED else ""
        return f"{where}{self.kind}: {self.name}{values}"


_VALUED = {"type", "nullable", "server default", "check constraints"}


@dataclass(frozen=True)
class Drift:
    """What :func:`drift` found: the revisions replayed and every difference."""

    revisions: tuple[str, ...]
    differences: tuple[Difference, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drifted,
            "revisions": list(self.revisions),
            "differences": [d.to_dict() for d in self.differences],
        }


def drift(
    *,
    url: Target | None = None,
    create_db: bool = False,
    directory: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> Drift:
    """Compare the app's live database(s) with the history replayed to their revision.

    Call inside the app context. ``url`` and ``create_db`` choose the
    throwaway database as for :func:`~migrepo.testing.throwaway_database`.
    """
    from migrepo.engine.run import DEFAULT_VERSION_TABLE, Run
    from migrepo.testing import throwaway_database, upgrade_to
    from migrepo.testing._target import app_binds, app_engines, as_mapping

    run = Run.for_app(directory, x_arg=x_arg)
    version_table = run.configure_args.get("version_table") or DEFAULT_VERSION_TABLE
    ignore = {version_table, run.ledger_table}
    engines = app_engines()
    schema = run.configure_args.get("version_table_schema")
    heads = {b: _live_heads(e, version_table, schema) for b, e in engines.items()}
    revisions = set(heads.values())
    if len(revisions) > 1:
        raise UsageError(
            "the databases of this app are at different revisions "
            f"({_list(heads)}): upgrade them to one revision first"
        )
    current = revisions.pop()
    known = {s.revision for s in run.script.walk_revisions() if s is not None}
    unknown = sorted(set(current) - known)
    if unknown:
        raise UsageError(
            f"the database is at revision {', '.join(unknown)}, which has no file in "
            f"{run.directory}: drift replays the history up to the database's revision"
        )
    found: list[Difference] = []
    with throwaway_database(url=url, create_db=create_db) as target:
        if current:
            upgrade_to(
                target,
                current if len(current) > 1 else current[0],  # type: ignore[arg-type]
                directory=directory,
                x_arg=x_arg,
            )
        urls = as_mapping(target, app_binds())
        for bind, engine in engines.items():
            with _replayed(urls[bind], ignore) as replayed, _reading(engine) as live:
                for difference in compare(live, replayed, ignore, run.configure_args):
                    found.append(_with_bind(difference, bind))
    found.sort(key=lambda d: (d.bind or "", d.name, d.kind))
    return Drift(current, tuple(found))


def _list(heads: Mapping[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{b or 'default'}: {', '.join(h) or 'base'}" for b, h in heads.items())


def _with_bind(difference: Difference, bind: str) -> Difference:
    if not bind:
        return difference
    return Difference(difference.kind, difference.name, difference.live, difference.history, bind)


def _live_heads(engine: Engine, version_table: str, schema: str | None) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    opts = {"version_table": version_table, "version_table_schema": schema}
    with _reading(engine) as conn:
        context = MigrationContext.configure(conn, opts=opts)
        return tuple(sorted(context.get_current_heads()))


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A connection to the live database that only reads: its transaction is rolled back."""
    url = engine.url
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not os.path.exists(url.database or ""):
        raise UsageError(f"the database file {url.database} does not exist")
    from migrepo.testing._target import sync_engine

    reader = sync_engine(url) if engine.dialect.is_async else engine
    try:
        with reader.connect() as conn:
            try:
                yield conn
            finally:
                conn.rollback()
    finally:
        if reader is not engine:
            reader.dispose()


@contextmanager
def _replayed(url: str, ignore: set[str]) -> Iterator[MetaData]:
    from sqlalchemy import MetaData

    from migrepo.testing._target import sync_engine

    engine = sync_engine(url)
    try:
        metadata = MetaData()
        with engine.connect() as conn:
            metadata.reflect(conn)
        for name in ignore:
            if name in metadata.tables:
                metadata.remove(metadata.tables[name])
        yield metadata
    finally:
        engine.dispose()


def compare(
    live: Connection, replayed: MetaData, ignore: set[str], configure_args: Mapping[str, Any]
) -> list[Difference]:
    """The differences of the live database (``live``) from the ``replayed`` schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    user_filter = configure_args.get("include_object")

    def include_object(obj: Any, name: Any, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "table" and name in ignore:
            return False
        return user_filter(obj, name, type_, reflected, other) if user_filter else True

    opts = {
        "compare_type": True,
        "compare_server_default": True,
        "include_object": include_object,
        "version_table": configure_args.get("version_table") or "alembic_version",
    }
    context = MigrationContext.configure(live, opts=opts)
    found: list[Difference] = []
    for diff in compare_metadata(context, replayed):
        for step in diff if isinstance(diff, list) else [diff]:
            found.append(_difference(step))
    found.extend(_check_constraints(live, replayed, ignore))
    return found


_ADD_REMOVE = {
    "table": "table",
    "column": "column",
    "index": "index",
    "constraint": "unique constraint",
    "fk": "foreign key",
}


def _difference(step: tuple[Any, ...]) -> Difference:
    """One autogenerate diff, as seen from the live database."""
    op = step[0]
    verb, _, what = op.partition("_")
    if verb in ("add", "remove") and what in _ADD_REMOVE:
        # "add" is what the live database would need to match its history: it lacks it.
        kind = ("missing " if verb == "add" else "extra ") + _ADD_REMOVE[what]
        if what == "column":
            return Difference(kind, f"{step[2]}.{step[3].name}")
        item = step[1]
        table = getattr(getattr(item, "table", None), "name", None)
        name = item.name if item.name is not None else _columns(item)
        return Difference(kind, f"{table}.{name}" if table and what != "table" else str(name))
    if verb == "modify":
        _, _, table, column, _, live, history = step
        kind = {"type": "type", "nullable": "nullable", "default": "server default"}[what]
        return Difference(kind, f"{table}.{column}", _value(live), _value(history))
    return Difference(op, " ".join(str(part) for part in step[1:]))


def _columns(item: Any) -> str:
    return "(" + ", ".join(c.name for c in getattr(item, "columns", ())) + ")"


def _value(value: Any) -> str:
    text = getattr(value, "arg", value)
    return str(getattr(text, "text", text))


def _check_constraints(live: Connection, replayed: MetaData, ignore: set[str]) -> list[Difference]:
    from sqlalchemy import inspect

    inspector = inspect(live)
    found = []
    live_tables = set(inspector.get_table_names())
    replay_inspector = None
    for name, table in replayed.tables.items():
        if name in ignore or name not in live_tables:
            continue
        try:
            theirs = sorted(str(c["sqltext"]) for c in inspector.get_check_constraints(name))
        except NotImplementedError:
            return []
        if replay_inspector is None:
            replay_inspector = _checks_of(table)
        ours = sorted(replay_inspector.get(name, []))
        if ours != theirs:
            found.append(
                Difference(
                    "check constraints",
                    name,
                    "; ".join(theirs) or "none",
                    "; ".join(ours) or "none",
                )
            )
    return found


def _checks_of(table: Any) -> dict[str, list[str]]:
    from sqlalchemy import CheckConstraint

    metadata = table.metadata
    return {
        name: [str(c.sqltext) for c in t.constraints if isinstance(c, CheckConstraint)]
        for name, t in metadata.tables.items()
    }
