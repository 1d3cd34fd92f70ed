"""Run revisions offline and record each operation they make, with its SQL.

The revisions run as ``flask db upgrade --sql`` runs them: Alembic's
EnvironmentContext in offline mode, through the run's env.py. Nothing
connects to the database. Right after env.py's ``context.configure()``
(the run's ``after_configure`` hook), a :class:`_Recorder` wraps methods of
that run's MigrationContext and of its ``impl``: instance attributes of
objects that live for this one run, so no module or class changes and other
runs in other threads see nothing.

Alembic's ``Operations`` sends every ``op.*`` call to ``operations.impl``, so
each call arrives here with its SQLAlchemy objects (the Column, the Index
with its dialect options, the Constraint) before it is rendered. Every
statement the run prints goes through ``impl.static_output``: the one
inside an operation belongs to it, and all of them, in order, are the
script ``upgrade --sql`` would print.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.script import Script

    from migrepo.engine.run import Run

# The schema-changing methods of Alembic's DefaultImpl that ``op.*`` calls reach...
DDL_KINDS = (
    "add_column",
    "drop_column",
    "alter_column",
    "add_constraint",
    "drop_constraint",
    "create_table",
    "drop_table",
    "rename_table",
    "create_index",
    "drop_index",
)
# ... and the others: data, and comments.
KINDS = (
    *DDL_KINDS,
    "execute",
    "bulk_insert",
    "create_table_comment",
    "drop_table_comment",
    "create_column_comment",
)


@dataclass
class Operation:
    """One ``op.*`` call of a revision, as Alembic's impl received it."""

    kind: str
    revision: str | None
    direction: str
    file: str | None
    line: int | None
    table: str | None = None
    column: str | None = None
    schema: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    autocommit: bool = False
    statements: list[str] = field(default_factory=list)


@dataclass
class Capture:
    """What an offline run did: its operations and the whole script it printed."""

    direction: str
    dialect: str = ""
    operations: list[Operation] = field(default_factory=list)
    script: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The script, exactly as Alembic's offline mode writes it."""
        return "".join(f"{chunk}\n\n" for chunk in self.script)


def capture(
    run: Run,
    fn: Callable[[Any, Any], Any],
    *,
    direction: str,
    scripts: Sequence[Script],
    starting_rev: Any = None,
    destination_rev: Any = None,
    dialect: str | None = None,
    structure_only: bool = False,
) -> Capture:
    """Run ``fn``'s steps offline and return what they did.

    ``scripts`` are the revisions that may run: their files are how an
    operation finds its revision and the line of its ``op.`` call.

    ``structure_only`` (lint) wants the operations, not a script to run:
    ``batch_alter_table`` then passes its operations straight to the impl
    instead of recreating the table (which offline mode cannot do without
    ``copy_from``: it would have to reflect the table), and an operation the
    dialect cannot render (SQLite's ALTER of a constraint) is still recorded.
    """
    found = Capture(direction)
    recorder = _Recorder(found, scripts, structure_only)
    hooks = run.hooks
    saved = hooks.dialect, hooks.after_configure, hooks.write_sql_files
    hooks.dialect = dialect
    hooks.after_configure = (*hooks.after_configure, recorder.install)
    hooks.write_sql_files = False
    try:
        run.run_env(fn, as_sql=True, starting_rev=starting_rev, destination_rev=destination_rev)
    finally:
        hooks.dialect, hooks.after_configure, hooks.write_sql_files = saved
    return found


def revision_paths(scripts: Sequence[Script], *, resolved: bool = False) -> dict[str, str]:
    """Each revision file's path (``resolved``: its real path) to its revision id."""
    paths: dict[str, str] = {}
    for script in scripts:
        paths[os.path.realpath(script.path) if resolved else script.path] = script.revision
    return paths


class _Recorder:
    def __init__(
        self, found: Capture, scripts: Sequence[Script], structure_only: bool = False
    ) -> None:
        self.found = found
        self.structure_only = structure_only
        self.scripts = scripts
        self.paths = revision_paths(scripts)
        self.resolved: dict[str, str] | None = None  # built only if a path is not as given
        self.current: Operation | None = None
        self.autocommit = 0
        self.last_revision: str | None = None

    def install(self, ctx: Any) -> None:
        """Wrap this one MigrationContext and its impl (instance attributes only)."""
        self.found.dialect = ctx.dialect.name
        impl = ctx.impl
        impl.static_output = self.static_output
        for kind in KINDS:
            method = getattr(impl, kind, None)
            if method is not None:
                setattr(impl, kind, self.wrap(kind, method))
        if self.structure_only:
            impl.requires_recreate_in_batch = lambda batch_op: False
        original_block = ctx.autocommit_block

        @contextmanager
        def autocommit_block() -> Iterator[None]:
            with original_block():
                self.autocommit += 1
                try:
                    yield
                finally:
                    self.autocommit -= 1

        ctx.autocommit_block = autocommit_block

    def static_output(self, text: str) -> None:
        self.found.script.append(text)
        if self.current is not None:
            self.current.statements.append(text.strip())

    def wrap(self, kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        try:
            signature: inspect.Signature | None = inspect.signature(method)
        except (TypeError, ValueError):
            signature = None

        def recorded(*args: Any, **kw: Any) -> Any:
            if self.current is not None:  # an impl method calling another: one operation
                return method(*args, **kw)
            # The table copy of batch mode is no op of the revision's: rules skip it.
            name = "batch_recreate" if _inside_batch_recreate() else kind
            self.current = self.operation(name, _arguments(signature, args, kw))
            try:
                return method(*args, **kw)
            except NotImplementedError:
                if not self.structure_only:
                    raise
                return None
            finally:
                self.current = None

        return recorded

    def operation(self, kind: str, arguments: dict[str, Any]) -> Operation:
        revision, path, line = self.locate()
        op = Operation(
            kind,
            revision,
            self.found.direction,
            path,
            line,
            arguments=arguments,
            autocommit=self.autocommit > 0,
        )
        op.table, op.column, op.schema = _subject(kind, arguments)
        self.found.operations.append(op)
        return op

    def locate(self) -> tuple[str | None, str | None, int | None]:
        """The revision, file and line of the innermost frame in a revision file."""
        for paths in (self.paths, None):
            if paths is None:  # a file imported under another spelling of its path
                if self.resolved is None:
                    self.resolved = revision_paths(self.scripts, resolved=True)
                paths = self.resolved
            frame = sys._getframe(3)
            while frame is not None:
                filename = frame.f_code.co_filename
                revision = paths.get(filename if paths is self.paths else _real(filename))
                if revision is not None:
                    self.last_revision = revision
                    return revision, filename, frame.f_lineno
                frame = frame.f_back  # type: ignore[assignment]
        return self.last_revision, None, None


def _real(filename: str) -> str:
    return os.path.realpath(filename) if os.path.isabs(filename) else filename


def _inside_batch_recreate() -> bool:
    """True inside Alembic's ``ApplyBatchImpl._create``, which copies the table."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_create" and code.co_filename.endswith(
            os.path.join("operations", "batch.py")
        ):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _arguments(
    signature: inspect.Signature | None, args: tuple[Any, ...], kw: dict[str, Any]
) -> dict[str, Any]:
    if signature is None:
        return {"args": args, **kw}
    try:
        bound = signature.bind(*args, **kw)
    except TypeError:
        return {"args": args, **kw}
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments


def _subject(kind: str, a: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The table, column and schema an operation is about."""
    if kind in ("add_column", "drop_column"):
        column = a.get("column")
        return a.get("table_name"), getattr(column, "name", column), a.get("schema")
    if kind == "alter_column":
        return a.get("table_name"), a.get("column_name"), a.get("schema")
    if kind == "rename_table":
        return a.get("old_table_name"), None, a.get("schema")
    if kind in ("create_table", "drop_table", "create_table_comment", "drop_table_comment"):
        table = a.get("table")
        return getattr(table, "name", None), None, getattr(table, "schema", None)
    if kind == "create_column_comment":
        column = a.get("column")
        table = getattr(column, "table", None)
        return getattr(table, "name", None), getattr(column, "name", None), None
    if kind == "bulk_insert":
        table = a.get("table")
        return getattr(table, "name", None), None, getattr(table, "schema", None)
    item = a.get("const", a.get("index"))
    if item is None:
        return None, None, None
    table = getattr(item, "table", None)
    columns = [getattr(c, "name", str(c)) for c in getattr(item, "columns", ())]
    if not columns and hasattr(item, "column_keys"):  # a ForeignKeyConstraint on a stub table
        columns = list(item.column_keys)
    return (
        getattr(table, "name", None),
        ", ".join(columns) or None,
        getattr(table, "schema", None),
    )
