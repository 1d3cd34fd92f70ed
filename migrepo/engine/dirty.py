"""The dirty-database refusal in ``upgrade``; see :mod:`migrepo.engine.status` for "dirty".

This module imports nothing of the engine's commands, so that ``upgrade`` can
call it without an import circle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from migrepo.errors import DirtyDatabase

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger("migrepo")


def rolls_back_ddl(engine: Any) -> bool:
    import alembic.ddl  # noqa: F401 - registers every dialect's implementation
    from alembic.ddl.impl import DefaultImpl

    engine = getattr(engine, "sync_engine", engine)  # an AsyncEngine: its sync core
    try:
        return bool(DefaultImpl.get_by_dialect(engine.dialect).transactional_ddl)
    except KeyError:  # a dialect Alembic has no implementation for: assume the worst
        return False


def dirty_revisions(run: Any) -> list[tuple[str, str]]:
    """``(database, revision)`` pairs that are dirty, read with one query per database.

    ``run`` is the command's :class:`~migrepo.engine.run.Run`. Databases with
    transactional DDL are never dirty and are not read.
    """
    import sqlalchemy as sa

    from migrepo.db.io import run_on

    current = run.state
    engines = getattr(current.db, "engines", None) or {}
    name = run.ledger_table
    schema = run.configure_args.get("version_table_schema")
    # The three columns read, as a lightweight table: it compiles once per process.
    table = sa.table(
        name, sa.column("id"), sa.column("revision"), sa.column("outcome"), schema=schema
    )
    newest = (
        sa.select(sa.func.max(table.c.id)).group_by(table.c.revision).scalar_subquery()
    )
    query = sa.select(table.c.revision).where(table.c.outcome == "failed", table.c.id.in_(newest))

    def read(connection: sa.Connection) -> list[str]:
        if not sa.inspect(connection).has_table(name, schema=schema):
            return []
        return list(connection.scalars(query))

    found: list[tuple[str, str]] = []
    for bind, engine in engines.items():
        if not rolls_back_ddl(engine):
            found.extend((bind or "", rev) for rev in run_on(engine, read))
    return sorted(found)


def refuse_if_dirty(run: Any) -> None:
    """Raise :class:`~migrepo.errors.DirtyDatabase` when a revision is dirty (see the module).

    Best effort: when the ledger cannot be read, say so once and let upgrade go on.
    """
    try:
        dirty = dirty_revisions(run)
    except Exception as exc:
        from migrepo._text import mask_passwords

        reason = mask_passwords(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        log.warning("could not check the ledger for a half-applied revision: %s", reason)
        return
    if dirty:
        from migrepo._text import printable

        # Revision ids read from the ledger: never raw escapes on a terminal.
        raise DirtyDatabase([printable(rev) for _, rev in dirty])
