"""Deploy-time state: ``flask db status``, and the dirty-database refusal in ``upgrade``.

``upgrade --plan`` is in :mod:`migrepo.engine.plan`, ``flask db resolve`` in
:mod:`migrepo.engine.resolve`.

:func:`status` composes what migrepo knows about each revision: the graph
(order, heads, branch points), the version table (applied or pending), the
ledger (when, by whom, from which commit; failed and dirty steps) and the
file's blob hash (changed since it was applied). It returns data; ``flask db
status`` formats it.

A revision is *dirty* when the newest ledger row for it, in the database
that row belongs to, is a failed step and that database cannot roll DDL back
(Alembic's ``transactional_ddl`` for its dialect is false: SQLite, MySQL,
MariaDB, Oracle): the statements before the error may have stayed. On
PostgreSQL a failed step rolled back whole, so the revision is only *failed*
(still pending). A later row for the revision (a success, a stamp, or a
``resolve`` row written by :func:`migrepo.engine.resolve.resolve`) clears it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrepo.engine.run import Run

Directory = str | os.PathLike[str] | None
XArgs = str | Sequence[str] | None

log = logging.getLogger("migrepo")

# ``flask db status --check`` exit codes (1 and 2 are click's: an error, bad usage).
# When several apply, dirty wins, then ahead, then several heads, then pending.
EXIT_AT_HEAD = 0
EXIT_PENDING = 3
EXIT_AHEAD = 4
EXIT_HEADS = 5
EXIT_DIRTY = 6

# The ledger row ``flask db resolve`` writes: its direction, and its outcome for each way.
RESOLVE = "resolve"
RESOLVED_APPLIED = "applied"
RESOLVED_ROLLED_BACK = "reverted"  # the ledger's outcome column holds 8 characters


@dataclass(frozen=True)
class RevisionStatus:
    """One revision's state.

    ``state`` is one of ``applied``, ``pending``, ``failed`` (its last step
    failed and rolled back: still pending), ``dirty`` (its last step failed
    part-way, see the module docstring) or ``unknown`` (the database is at it
    but this work tree has no file for it). The ``applied_*`` fields come from
    the ledger row that last applied it; ``changed`` is None when unknown.
    """

    revision: str
    state: str
    parents: tuple[str, ...] = ()
    message: str = ""
    path: str | None = None
    is_head: bool = False
    is_branch_point: bool = False
    is_merge_point: bool = False
    file_hash: str | None = None
    applied_hash: str | None = None
    changed: bool | None = None
    applied_at: datetime | None = None
    applied_by: str | None = None
    git_commit: str | None = None
    database: str | None = None
    # The newest ledger row's step and outcome ("upgrade failed"), and its error line.
    last_step: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Status:
    """Every revision, oldest first in graph order, and what they add up to."""

    revisions: tuple[RevisionStatus, ...]
    current: tuple[str, ...]
    heads: tuple[str, ...]
    ledger_error: str | None = None

    def having(self, state: str) -> list[str]:
        return [rev.revision for rev in self.revisions if rev.state == state]

    @property
    def pending(self) -> list[str]:
        return [rev.revision for rev in self.revisions if rev.state in ("pending", "failed")]

    @property
    def exit_code(self) -> int:
        """What ``status --check`` exits with (the ``EXIT_*`` constants)."""
        if self.having("dirty"):
            return EXIT_DIRTY
        if self.having("unknown"):
            return EXIT_AHEAD
        if len(self.heads) > 1:
            return EXIT_HEADS
        if self.pending:
            return EXIT_PENDING
        return EXIT_AT_HEAD

    @property
    def summary(self) -> str:
        code = self.exit_code
        if code == EXIT_DIRTY:
            dirty = ", ".join(self.having("dirty"))
            return (
                f"dirty: {dirty} failed part-way; repair the database by hand, then run "
                "`flask db resolve REV --applied` or `--rolled-back`"
            )
        if code == EXIT_AHEAD:
            return (
                f"ahead of this tree: the database is at {', '.join(self.having('unknown'))}, "
                "which this work tree has no file for"
            )
        if code == EXIT_HEADS:
            return f"{len(self.heads)} heads ({', '.join(self.heads)}): merge or rebase them"
        if code == EXIT_PENDING:
            return f"{len(self.pending)} pending"
        return "at head" if self.revisions else "no revisions"

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "summary": self.summary,
            "exit_code": self.exit_code,
            "current": list(self.current),
            "heads": list(self.heads),
            "ledger_error": self.ledger_error,
            "revisions": [asdict(rev) for rev in self.revisions],
        }


def status(directory: Directory = None, x_arg: XArgs = None) -> Status:
    """The state of every revision of the migrations directory in the app's databases."""
    from migrepo import graph as g
    from migrepo.engine.commands import new_run
    from migrepo.engine.log import read_ledger
    from migrepo.engine.repository import database_revisions
    from migrepo.store.reader import read_revision_files

    run = new_run(directory, x_arg=x_arg)
    files = read_revision_files(run.config)
    for found in files:
        if found.error is not None:
            raise found.error
    G = g.build_graph(found.record for found in files if found.record is not None)
    blobs = {f.record.revision: f.blob for f in files if f.record is not None}
    current = database_revisions(run)
    ledger_error = None
    try:
        rows = read_ledger(run)
    except Exception as exc:  # best effort: the version table alone still tells a lot
        from migrepo._text import mask_passwords

        rows = []
        ledger_error = mask_passwords(str(exc).strip().splitlines()[0])
        log.warning("could not read the ledger: %s", ledger_error)
    known = current & set(G)
    applied = set(known)
    for rev in known:
        applied.update(g.ancestors(G, rev))
    latest = _latest_rows(rows)
    last_applied = _last_applied(rows)
    transactional = _transactional_ddl(run)
    revisions = []
    for rev in reversed(g.newest_first(G)):
        info = g.node(G, rev)
        revisions.append(
            _revision_status(
                rev,
                _state(rev in applied, latest.get(rev), transactional),
                latest.get(rev),
                last_applied.get(rev) if rev in applied else None,
                parents=info.parents,
                message=info.record.message,
                path=info.record.path,
                is_head=info.is_head,
                is_branch_point=info.is_branch_point,
                is_merge_point=info.is_merge_point,
                file_hash=blobs.get(rev),
            )
        )
    for rev in sorted(current - set(G)):
        row = latest.get(rev)
        state = "dirty" if _is_dirty(row, transactional) else "unknown"
        revisions.append(_revision_status(rev, state, row, last_applied.get(rev)))
    # Dirty revisions with no file and no version row (a failed first step of a
    # revision since deleted) are still dirty.
    listed = {rev.revision for rev in revisions}
    for rev, row in sorted(latest.items()):
        if rev not in listed and _is_dirty(row, transactional):
            revisions.append(_revision_status(rev, "dirty", row, None))
    return Status(tuple(revisions), tuple(sorted(current)), tuple(g.heads(G)), ledger_error)


def _state(applied: bool, latest: dict[str, Any] | None, transactional: dict[str, bool]) -> str:
    if _is_dirty(latest, transactional):
        return "dirty"
    if applied:
        return "applied"
    if latest is not None and latest["outcome"] == "failed":
        return "failed"
    return "pending"


def _is_dirty(row: dict[str, Any] | None, transactional: dict[str, bool]) -> bool:
    if row is None or row["outcome"] != "failed":
        return False
    return not transactional.get(row.get("database") or "", False)


def _revision_status(
    rev: str,
    state: str,
    latest: dict[str, Any] | None,
    applied_row: dict[str, Any] | None,
    *,
    file_hash: str | None = None,
    **facts: Any,
) -> RevisionStatus:
    applied_hash = applied_row["content_hash"] if applied_row else None
    changed = None
    if applied_hash is not None and file_hash is not None:
        changed = applied_hash != file_hash
    last_step = None
    if latest is not None:
        last_step = f"{latest['direction']} {latest['outcome']}"
    return RevisionStatus(
        rev,
        state,
        file_hash=file_hash,
        applied_hash=applied_hash,
        changed=changed,
        applied_at=applied_row["started_at"] if applied_row else None,
        applied_by=applied_row["applied_by"] if applied_row else None,
        git_commit=applied_row["git_commit"] if applied_row else None,
        database=(latest or applied_row or {}).get("database"),
        last_step=last_step,
        error=latest["error"] if latest is not None and latest["outcome"] == "failed" else None,
        **facts,
    )


def _latest_rows(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """revision -> its newest row; one database's newest failure wins over another's success."""
    # Within one database, the newest row is the one written last (highest id), as
    # upgrade's refusal reads it (migrepo.engine.dirty), whatever its clock said.
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # newest first
        key = (row["revision"], row.get("database") or "")
        if key not in newest or row["id"] > newest[key]["id"]:
            newest[key] = row
    found: dict[str, dict[str, Any]] = {}
    for (revision, _), row in newest.items():
        if revision not in found or row["outcome"] == "failed":
            found[revision] = row
    return found


def _applies(row: dict[str, Any]) -> bool:
    if row["direction"] == RESOLVE:
        return bool(row["outcome"] == RESOLVED_APPLIED)
    return row["direction"] in ("upgrade", "stamp") and row["outcome"] == "ok"


def _last_applied(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if _applies(row):
            found.setdefault(row["revision"], row)
    return found


def _transactional_ddl(run: Run) -> dict[str, bool]:
    """Bind name ('' for the default) -> whether a failed step rolls its DDL back."""
    from migrepo.engine.dirty import rolls_back_ddl

    engines = getattr(run.db, "engines", None) or {}
    return {bind or "": rolls_back_ddl(engine) for bind, engine in engines.items()}
