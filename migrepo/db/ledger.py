"""The ledger: an append-only table of every revision step applied to a database.

One row per step of ``upgrade``, ``downgrade``, ``stamp`` and ``sync``. It
lives next to ``alembic_version`` (same bind, same schema), and rows are
written by an Alembic ``on_version_apply`` callback, so each row is part of
the transaction of the step it describes. A step that fails gets a row too,
written after the rollback.

The callback reaches Alembic through ``app.extensions['migrate'].configure_args``
for the length of one command, so env.py files written for Flask-Migrate
record to the ledger as migrepo's own do.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from migrepo._text import mask_passwords
from migrepo._version import __version__
from migrepo.db.io import run_on
from migrepo.store.objects import ObjectCache
from migrepo.store.reader import blob_hash, read_revision_file

DEFAULT_TABLE = "migrepo_ledger"

COLUMNS = (
    "revision",
    "direction",
    "content_hash",
    "git_commit",
    "git_dirty",
    "applied_by",
    "started_at",
    "duration_ms",
    "outcome",
    "error",
    "migrepo_version",
)


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


def applied_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


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

    @property
    def git(self) -> tuple[str | None, bool | None]:
        """HEAD and the dirty flag, asked of git once, when the first row is written:
        a run that applies nothing (a no-op upgrade) never starts git."""
        if self._git is None:
            self._git = git_head(self.directory)
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
        ids = step.up_revision_ids or step.down_revision_ids
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

        def write(connection: sa.Connection) -> None:
            table.create(connection, checkfirst=True)
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
        self._created.add(id(ctx))
        if ctx.as_sql:
            ctx.execute(CreateTable(table, if_not_exists=True))
        else:
            table.create(ctx.connection, checkfirst=True)

    def _content_hash(self, step: Any, revision: str) -> str | None:
        try:
            script = step.revision_map.get_revision(revision)
        except Exception:  # a stamp to a revision with no file: nothing to hash
            return None
        if script is None or not getattr(script, "path", None):
            return None
        data = Path(script.path).read_bytes()
        digest = blob_hash(data)
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


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask_passwords(f"{type(exc).__name__}: {text[0] if text else ''}")[:2000]


@contextmanager
def recording(
    configure_args: dict[str, Any],
    *,
    directory: str,
    table_name: str,
    direction: str | None,
    engine_for: Callable[[str], sa.Engine | None] = lambda name: None,
) -> Iterator[Recorder | None]:
    """Hook the ledger into ``configure_args`` for one command.

    ``direction`` None only hides the ledger table from autogenerate (for
    ``revision``, ``migrate`` and ``check``); otherwise steps are recorded.
    """
    saved: dict[str, Any] = {
        key: configure_args[key]
        for key in ("on_version_apply", "include_object")
        if key in configure_args
    }
    configure_args["include_object"] = _hide_table(table_name, saved.get("include_object"))
    recorder = None
    if direction is not None:
        recorder = Recorder(
            table_name,
            directory,
            ObjectCache(directory),
            engine_for=engine_for,
            schema=configure_args.get("version_table_schema"),
        )
        user_callbacks = saved.get("on_version_apply") or ()
        if callable(user_callbacks):
            user_callbacks = (user_callbacks,)
        configure_args["on_version_apply"] = (*user_callbacks, recorder)
    try:
        yield recorder
    except BaseException as exc:
        if recorder is not None and direction in ("upgrade", "downgrade"):
            with suppress(Exception):  # the original error matters more than the ledger's
                recorder.record_failure(exc, direction)
        raise
    finally:
        for key in ("on_version_apply", "include_object"):
            configure_args.pop(key, None)
        configure_args.update(saved)


def _hide_table(
    table_name: str, user_filter: Callable[..., bool] | None
) -> Callable[..., bool]:
    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and name == table_name:
            return False
        if user_filter is not None:
            return user_filter(obj, name, type_, reflected, compare_to)
        return True

    return include_object


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
    :func:`migrepo.db.io.run_on`).
    """
    table = ledger_table(table_name, schema)

    def read(connection: sa.Connection) -> list[dict[str, Any]]:
        if not sa.inspect(connection).has_table(table_name, schema=schema):
            return []
        query = sa.select(table).order_by(table.c.id.desc())
        if revision is not None and prefix:
            query = query.where(table.c.revision.startswith(revision, autoescape=True))
        elif revision is not None:
            query = query.where(table.c.revision == revision)
        if limit is not None:
            query = query.limit(limit)
        return [dict(row._mapping) for row in connection.execute(query)]

    return run_on(engine, read)
