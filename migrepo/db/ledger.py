"""The ledger: an append-only table of every revision step applied to a database.

One row per step of ``upgrade``, ``downgrade``, ``stamp`` and ``sync``. It
lives next to ``alembic_version`` (same bind, same schema), and rows are
written by an Alembic ``on_version_apply`` callback, so each row is part of
the transaction of the step it describes. A step that fails gets a row too,
written after the rollback.

The callback reaches Alembic through the command's run (see
:mod:`migrepo.engine.run`), which adds it to every ``context.configure()``
call, so env.py files written for Flask-Migrate record to the ledger as
migrepo's own do.

First, do no harm. The step's DDL, its version row and its ledger row are
the critical path. A row holds only what is known without I/O that can fail,
plus the hash of the bytes that ran. Everything else (git's HEAD and dirty
flag, the object cache, git's end-of-line rules) is best effort: a failure
logs one warning, the value is recorded as null, and the run goes on. The
table is created before the first row needs it, race-safely, in a
transaction of its own wherever the database allows one beside the run's.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from migrepo._best_effort import BestEffort, writing
from migrepo._text import mask_passwords
from migrepo._version import __version__
from migrepo.db.io import run_on
from migrepo.db.ledger_table import DEFAULT_TABLE, create_table, ledger_table, read_rows
from migrepo.store.blob import blob_hash
from migrepo.store.objects import ObjectCache
from migrepo.store.reader import read_revision_file

__all__ = [
    "DEFAULT_TABLE",
    "Recorder",
    "create_table",
    "ledger_table",
    "read_rows",
]


def applied_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


# Widths of the ledger's hash columns, in every table ever created.
_HASH_WIDTH = 40


def git_head(directory: str) -> tuple[str | None, bool | None]:
    """HEAD of the git work tree holding ``directory`` and its dirty flag; Nones outside git."""
    from migrepo.audit.gitrepo import head, open_repo

    repo = open_repo(directory)
    if repo is None:
        return None, None
    try:
        return head(repo)
    finally:
        repo.close()


@dataclass
class Recorder:
    """The ``on_version_apply`` callback for one command run."""

    table_name: str
    directory: str
    cache: ObjectCache
    # The app's engine for a bind name ('' = default), for failures before any step ran.
    engine_for: Callable[[str], sa.Engine | None] = lambda name: None
    schema: str | None = None
    user: str = field(default_factory=applied_by)
    _last: float = field(default_factory=time.monotonic)
    _last_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    _created: set[int] = field(default_factory=set)
    # Every MigrationContext seen, by engine name: failure rows go to the right database.
    contexts: list[Any] = field(default_factory=list)
    _git: tuple[str | None, bool | None] | None = None
    _tables: dict[str | None, sa.Table] = field(default_factory=dict)
    # The warnings of this run: each kind of best-effort work warns once.
    effort: BestEffort = field(default_factory=BestEffort)

    @property
    def git(self) -> tuple[str | None, bool | None]:
        """HEAD and the dirty flag, asked of git once, when the first row is written:
        a run that applies nothing (a no-op upgrade) never starts git.

        Best effort: when git cannot tell (dubious ownership, an object format
        GitPython cannot read, no git), both are None.
        """
        if self._git is None:
            self._git = (None, None)
            with self.effort.attempt("read the git commit of the work tree"):
                sha, dirty = git_head(self.directory)
                if sha is not None and len(sha) > _HASH_WIDTH:
                    raise ValueError(f"commit id {sha} is longer than the ledger's column")
                self._git = (sha, dirty)
        return self._git

    def __call__(self, ctx: Any, step: Any, heads: Any, run_args: dict[str, Any]) -> None:
        started_at = self._last_wall
        now = time.monotonic()
        duration_ms, self._last, self._last_wall = (
            round((now - self._last) * 1000), now, datetime.now(UTC)
        )
        if ctx not in self.contexts:
            self.contexts.append(ctx)
        table = self._table(ctx)
        self._ensure_table(ctx, table)
        direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        ids = _step_revisions(step)
        for revision in ids:
            content_hash = self._content_hash(step, revision)
            row = self._row(revision, direction, content_hash, started_at, duration_ms, "ok", None)
            if ctx.as_sql:  # the script gets the row as literal SQL
                ctx.execute(table.insert().values(**row))
            else:  # bound parameters, one compiled INSERT for every step
                ctx.connection.execute(table.insert(), row)

    def record_failure(self, exc: BaseException, direction: str) -> None:
        """Write a ``failed`` row for the step ``exc`` came from, after its rollback."""
        from migrepo._origin import locate

        origin = locate(exc)
        if origin is None or origin.revision_path is None:
            return
        engine_name = origin.engine_name
        found = read_revision_file(Path(origin.revision_path))
        if found.record is None:
            return
        ctx = self._context_for(engine_name)
        if ctx is not None and ctx.as_sql:
            return
        engine = ctx.connection.engine if ctx is not None else self.engine_for(engine_name)
        if engine is None:
            return
        schema = ctx.opts.get("version_table_schema") if ctx is not None else self.schema
        duration_ms = round((time.monotonic() - self._last) * 1000)
        row = self._row(
            found.record.revision,
            direction,
            found.blob,
            self._last_wall,
            duration_ms,
            "failed",
            _one_line(exc),
        )
        table = self._table_in(schema)
        create_table(engine, table, run=run_on)

        def write(connection: sa.Connection) -> None:
            connection.execute(table.insert().values(**row))

        run_on(engine, write, begin=True)

    def _context_for(self, engine_name: str) -> Any:
        for ctx in self.contexts:
            if ctx.opts.get("upgrade_token", "upgrades") == f"{engine_name}_upgrades":
                return ctx
        return self.contexts[0] if self.contexts and not engine_name else None

    def _table(self, ctx: Any) -> sa.Table:
        return self._table_in(ctx.opts.get("version_table_schema"))

    def _table_in(self, schema: str | None) -> sa.Table:
        # One Table per schema: SQLAlchemy then compiles the INSERT once, not per step.
        table = self._tables.get(schema)
        if table is None:
            table = self._tables[schema] = ledger_table(self.table_name, schema)
        return table

    def _ensure_table(self, ctx: Any, table: sa.Table) -> None:
        if id(ctx) in self._created:
            return
        if ctx.as_sql:
            ctx.execute(CreateTable(table, if_not_exists=True))
        else:
            connection = ctx.connection
            dialect = connection.dialect.name
            if dialect == "sqlite":
                # One writer per file (and the migration lock is per file): no
                # race, and a second connection would wait on this one.
                table.create(connection, checkfirst=True)
            elif dialect in ("mysql", "mariadb") or not sa.inspect(connection).has_table(
                table.name, schema=table.schema
            ):
                # Beside the run's transaction, never inside it: MySQL would commit
                # the step half-way, PostgreSQL would race other apps. (MySQL does
                # not look first: its information_schema fails on a table being made.)
                create_table(connection.engine, table)
        self._created.add(id(ctx))

    def _content_hash(self, step: Any, revision: str) -> str | None:
        """The content hash of the code that ran for ``revision``; None when unknown.

        The bytes were captured when the module was loaded (see
        :class:`migrepo.engine.scripts.LazyModule`): the file may since have
        been edited or removed. Keeping them in the object cache and applying
        git's end-of-line rules are best effort.
        """
        try:
            script = step.revision_map.get_revision(revision)
        except Exception:  # a stamp to a revision with no file: nothing to hash
            return None
        if script is None or not getattr(script, "path", None):
            return None
        module = script.module
        content = getattr(type(module), "migrepo_content", None)
        digest, data = content(module) if content is not None else (None, None)
        if digest is None or data is None:
            # Alembic loaded the module itself (MIGREPO_INDEX off, or a file the
            # index could not read), or a stamp ran no code: the file as it is now.
            with self.effort.attempt("read a revision file to hash it"):
                read = Path(script.path).read_bytes()
                if digest is None or blob_hash(read) == digest:
                    digest, data = blob_hash(read), read
        if digest is None:
            return None
        if data is not None:
            with self.effort.attempt("hash a revision file as git stores it"):
                from migrepo.audit.gitblob import as_git_stores

                stored, normalized = as_git_stores(script.path, data)
                if len(stored) <= _HASH_WIDTH:
                    digest, data = stored, normalized
            if data is not None:
                with self.effort.attempt(writing(self.cache.root)):
                    self.cache.put(digest, data)
        return digest

    def _row(
        self,
        revision: str,
        direction: str,
        content_hash: str | None,
        started_at: datetime,
        duration_ms: int,
        outcome: str,
        error: str | None,
    ) -> dict[str, Any]:
        return {
            "revision": revision,
            "direction": direction,
            "content_hash": content_hash,
            "git_commit": self.git[0],
            "git_dirty": self.git[1],
            "applied_by": self.user,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "outcome": outcome,
            "error": error,
            "migrepo_version": __version__,
        }


def _step_revisions(step: Any) -> tuple[str, ...]:
    """The revisions a step's rows name: the one it ran, or the ones a stamp moves to.

    A downward stamp (``stamp r1`` at r2) names where it lands, r1, not the
    revision it leaves; one down to base names ``base``.
    """
    if step.is_stamp and not step.is_upgrade:
        return tuple(step.down_revision_ids) or ("base",)
    return tuple(step.up_revision_ids or step.down_revision_ids)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask_passwords(f"{type(exc).__name__}: {text[0] if text else ''}")[:2000]


