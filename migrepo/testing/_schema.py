"""Schema snapshots through SQLAlchemy's inspector, and their differences.

A snapshot is plain data (table -> what the inspector reports about it), so
two snapshots compare with ``==`` and :func:`differences` says how they differ,
one short phrase per difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Snapshot = dict[str, dict[str, Any]]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, _plain()) else text


def _plain() -> tuple[type[BaseException], ...]:
    from migrepo.errors import MigrepoError

    return (MigrepoError,)


def snapshot(url: str, exclude: Iterable[str] = ()) -> Snapshot:
    """The schema of the database at ``url``, without the tables in ``exclude``."""
    from sqlalchemy import inspect

    from migrepo.testing._target import sync_engine

    skip = set(exclude)
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            return {
                name: _table(inspector, conn.dialect, name)
                for name in inspector.get_table_names()
                if name not in skip
            }
    finally:
        engine.dispose()


def _type(type_: Any, dialect: Any) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:
        return repr(type_)


def _table(inspector: Any, dialect: Any, name: str) -> dict[str, Any]:
    columns = {
        c["name"]: {
            "type": _type(c["type"], dialect),
            "nullable": bool(c["nullable"]),
            "default": None if c.get("default") is None else str(c["default"]),
        }
        for c in inspector.get_columns(name)
    }
    try:
        checks = sorted(str(c["sqltext"]) for c in inspector.get_check_constraints(name))
    except NotImplementedError:
        checks = []
    return {
        "columns": columns,
        "primary key": tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ()),
        "indexes": sorted(
            (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(name)
        ),
        "unique constraints": sorted(
            tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
        ),
        "foreign keys": sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in inspector.get_foreign_keys(name)
        ),
        "check constraints": checks,
    }


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """How ``after`` differs from ``before``, one phrase each (empty when equal)."""
    found: list[str] = []
    for name in sorted(before.keys() - after.keys()):
        found.append(f"table {name} missing")
    for name in sorted(after.keys() - before.keys()):
        found.append(f"extra table {name}")
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        for column in sorted(old["columns"].keys() - new["columns"].keys()):
            found.append(f"column {name}.{column} missing")
        for column in sorted(new["columns"].keys() - old["columns"].keys()):
            found.append(f"extra column {name}.{column}")
        for column in sorted(old["columns"].keys() & new["columns"].keys()):
            a, b = old["columns"][column], new["columns"][column]
            for key in ("type", "nullable", "default"):
                if a[key] != b[key]:
                    found.append(f"column {name}.{column} {key} {a[key]} -> {b[key]}")
        for key in (
            "primary key",
            "indexes",
            "unique constraints",
            "foreign keys",
            "check constraints",
        ):
            if old[key] != new[key]:
                found.append(f"{name} {key} {_short(old[key])} -> {_short(new[key])}")
    return found


def _short(value: Any) -> str:
    return str(value) if value else "none"


def summary(found: list[str], limit: int = 4) -> str:
    shown = "; ".join(found[:limit])
    return shown + (f"; and {len(found) - limit} more" if len(found) > limit else "")
