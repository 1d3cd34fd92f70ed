"""``flask db resolve``: record how a dirty revision was repaired by hand.

See :mod:`migrepo.engine.status` for what makes a revision dirty.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from migrepo.engine.status import (
    RESOLVE,
    RESOLVED_APPLIED,
    RESOLVED_ROLLED_BACK,
    RevisionStatus,
    status,
)
from migrepo.errors import MigrepoError, UsageError

if TYPE_CHECKING:
    import sqlalchemy as sa

Directory = str | os.PathLike[str] | None
XArgs = str | Sequence[str] | None

log = logging.getLogger("migrepo")


@dataclass(frozen=True)
class Resolution:
    revision: str
    applied: bool
    database: str
    parents: tuple[str, ...]
    stamped_to: tuple[str, ...] | None  # None when the version table was already right


def resolve(
    directory: Directory = None,
    revision: str = "",
    *,
    applied: bool,
    message: str,
    x_arg: XArgs = None,
    lock_timeout: float | None = None,
) -> Resolution:
    """Record how a dirty revision was repaired by hand.

    ``applied`` stamps ``revision`` (the version table says it is applied);
    otherwise the version is left at (or stamped back to) its parents. Either
    way a ledger row ``resolve`` with outcome ``applied`` or ``reverted``
    records who resolved it, and ``message``, why. Refuses, changing nothing,
    when the revision is not dirty.
    """
    from migrepo.engine import commands as _commands

    reason = (message or "").strip()
    if not reason:
        raise UsageError("give the reason with -m/--message: it goes into the ledger")
    if "\n" in reason:
        reason = " ".join(reason.split())
    current = status(directory, x_arg)
    dirty = {rev.revision: rev for rev in current.revisions if rev.state == "dirty"}
    found = dirty.get(revision)
    if found is None:
        known = next((rev for rev in current.revisions if rev.revision == revision), None)
        what = f"its state is {known.state}" if known else "it is not in this tree or the ledger"
        hint = f"dirty: {', '.join(dirty)}" if dirty else "no revision is dirty"
        raise MigrepoError(
            f"revision {revision} is not dirty ({what}); nothing to resolve ({hint}, "
            "see `flask db status`)"
        )
    at = set(current.current)
    target: tuple[str, ...] | None = None
    if applied and revision not in at:
        target = (revision,)
    elif not applied and revision in at:
        target = found.parents or ("base",)
    if target is not None:
        from migrepo.engine.options import StampOptions

        _commands.stamp(
            options=StampOptions(
                directory=directory,
                revision=list(target) if len(target) > 1 else target[0],
                x_arg=x_arg,
                lock_timeout=lock_timeout,
            )
        )
    _write_resolve_row(directory, found, applied=applied, reason=reason)
    return Resolution(revision, applied, found.database or "", found.parents, target)


def _write_resolve_row(
    directory: Directory, found: RevisionStatus, *, applied: bool, reason: str
) -> None:
    from datetime import UTC

    from flask import current_app

    from migrepo._version import __version__
    from migrepo.db.io import run_on
    from migrepo.db.ledger import DEFAULT_TABLE, applied_by, git_head, ledger_table
    from migrepo.engine.commands import resolve_directory, state

    current = state()
    engine = current.db.engines.get(found.database or None)
    name = current_app.config.get("MIGREPO_LEDGER_TABLE", DEFAULT_TABLE)
    table = ledger_table(name, current.configure_args.get("version_table_schema"))
    try:
        commit, dirty = git_head(resolve_directory(directory))
    except Exception as exc:  # best effort: the row matters, not its commit
        log.warning("git: cannot read HEAD for the ledger row: %s", exc)
        commit, dirty = None, None
    row = {
        "revision": found.revision,
        "direction": RESOLVE,
        "content_hash": found.file_hash,
        "git_commit": commit,
        "git_dirty": dirty,
        "applied_by": applied_by(),
        "started_at": datetime.now(UTC),
        "duration_ms": 0,
        "outcome": RESOLVED_APPLIED if applied else RESOLVED_ROLLED_BACK,
        "error": reason[:2000],
        "migrepo_version": __version__,
    }
    def write(connection: sa.Connection) -> None:
        table.create(connection, checkfirst=True)
        connection.execute(table.insert().values(**row))

    run_on(engine, write, begin=True)
