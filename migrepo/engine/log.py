"""Reading the ledger: the rows of every database the app migrates, and ``flask db log``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrepo.engine.checks import match_revision
from migrepo.engine.commands import new_run, resolve_directory
from migrepo.errors import AppContextError

if TYPE_CHECKING:
    from migrepo.engine.run import Run


def ledger_entries(
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
    return read_ledger(new_run(None), limit=limit, revision=revision, prefix=prefix)


def read_ledger(
    run: Run,
    *,
    limit: int | None = None,
    revision: str | None = None,
    prefix: bool = False,
) -> list[dict[str, Any]]:
    """:func:`ledger_entries` for a run already set up."""
    from migrepo.db.ledger import read_rows

    if run.db is None:
        raise AppContextError("Migrate was set up without a database: use `Migrate(app, db)`")
    table = run.ledger_table
    schema = run.configure_args.get("version_table_schema")
    rows: list[dict[str, Any]] = []
    for bind, engine in run.db.engines.items():
        for row in read_rows(
            engine, table, schema, limit=limit, revision=revision, prefix=prefix
        ):
            row["database"] = bind or ""
            rows.append(row)
    rows.sort(key=lambda row: (_naive(row["started_at"]), row["id"]), reverse=True)
    return rows[:limit] if limit is not None else rows


def _naive(moment: Any) -> Any:
    """SQLite hands back naive datetimes; compare every row in UTC without a zone.

    A row whose time is unknown (None) sorts by its id among the oldest.
    """
    if moment is None:
        return datetime.min
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(
        UTC
    ).replace(tzinfo=None)


def ledger_log(
    directory: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    revision: str | None = None,
) -> list[dict[str, Any]]:
    """What ``flask db log`` shows: ledger rows, newest first, at most ``limit``.

    ``revision`` is a revision id or, as for ``flask db blame``, a unique
    prefix of one among the ids the ledger holds (the file may be gone). A
    prefix that matches nothing gives no rows.
    """
    if revision is None:
        return ledger_entries(limit)
    rows = ledger_entries(revision=revision, prefix=True)
    ids = {row["revision"] for row in rows}
    if ids:
        rows = [row for row in rows if row["revision"] == match_revision(sorted(ids), revision)]
    return rows[:limit] if limit is not None else rows


def ledger_commits_missing(
    directory: str | os.PathLike[str] | None, commits: Sequence[str]
) -> tuple[tuple[str, ...], set[str]]:
    """In a shallow clone: its boundary commits, and which of ``commits`` it lacks.

    Outside a shallow clone, ``((), set())`` without starting git. Best effort:
    when git cannot tell, nothing is missing.
    """
    from migrepo.audit import walk
    from migrepo.audit.gitrepo import open_repo
    from migrepo.errors import GitError

    path = resolve_directory(directory)
    boundary = walk.shallow_boundary_at(path)
    if not boundary:
        return (), set()
    try:
        repo = open_repo(path)
        if repo is None:
            return boundary, set()
        with repo:
            return boundary, walk.missing_commits(repo, commits)
    except (GitError, OSError):
        return boundary, set()
