"""One command's run: the app's settings resolved once, and what Alembic needs for it.

A :class:`Run` is built once per command from ``app.extensions['migrate']``
and the app config. It holds the Alembic Config, migrepo's ScriptDirectory,
the engines, the ``MIGREPO_*`` settings, and the per-run hooks: the ledger
recorder, the filter that hides the ledger table from autogenerate, and the
transaction mode (:mod:`migrepo.engine.run_hooks`).

The hooks never travel through a process-wide object. They sit in the run's
``config.attributes`` (Alembic's per-Config dictionary), and each
``EnvironmentContext`` the run opens merges them into whatever keywords
env.py passes to ``context.configure()``: migrepo's own env.py, and env.py
files written for Flask-Migrate that pass ``**configure_args`` plus their
own ``include_object`` or ``on_version_apply``. The user's callbacks run
first, then migrepo's; no keyword is ever passed twice.

Alembic's ``alembic.context`` and ``alembic.op`` are module-level proxies
for the one EnvironmentContext and Operations in use, so two env.py runs in
one process cannot overlap. :data:`ENV_LOCK` makes runs in several threads
take turns for the length of ``script.run_env()``; everything else about a
run (its Config, ScriptDirectory, hooks and lock) is its own.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask import current_app

from migrepo.engine.checks import (
    check_ledger_table,
    check_repository,
    check_version_locations,
)
from migrepo.engine.run_hooks import HOOKS, Hooks
from migrepo.errors import AppContextError, UsageError

if TYPE_CHECKING:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    from migrepo._config import Config
    from migrepo._extension import MigrateState
    from migrepo.db.ledger import Recorder

XArgs = str | Sequence[str] | None

# Alembic's module proxies (alembic.context, alembic.op) hold one context at a
# time for the whole process: env.py runs take turns on them. Re-entrant, so a
# command that reads the database inside another step's frame cannot deadlock.
ENV_LOCK = threading.RLock()

DEFAULT_VERSION_TABLE = "alembic_version"

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def state() -> MigrateState:
    """The ``app.extensions['migrate']`` of the current app, or a clear error."""
    try:
        extensions = current_app.extensions
    except RuntimeError:
        raise AppContextError(
            "no Flask application context: run this inside `with app.app_context():`"
        ) from None
    found = extensions.get("migrate")
    if found is None:
        raise AppContextError(
            f"the app {current_app.name!r} has no migrepo extension: "
            "create it with `Migrate(app, db)` or `migrate.init_app(app, db)`"
        )
    return found


@dataclass(frozen=True)
class Settings:
    """The app's ``MIGREPO_*`` settings, read once per run."""

    index: bool = True
    ledger_table: Any = "migrepo_ledger"
    lock_timeout: Any = None
    single_transaction: Any = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        from migrepo.db.ledger import DEFAULT_TABLE

        return cls(
            index=bool(config.get("MIGREPO_INDEX", True)),
            ledger_table=config.get("MIGREPO_LEDGER_TABLE", DEFAULT_TABLE),
            lock_timeout=config.get("MIGREPO_LOCK_TIMEOUT"),
            single_transaction=config.get("MIGREPO_SINGLE_TRANSACTION"),
        )


@dataclass
class Run:
    """Everything one command needs, resolved once from the current app.

    ``config`` and ``script`` are built on first use, so a command that fails
    its input checks never reads alembic.ini.
    """

    directory: str
    x_arg: XArgs = None
    opts: tuple[str, ...] = ()
    require_repository: bool = True
    state: MigrateState = field(default_factory=state)
    settings: Settings = field(default_factory=lambda: Settings.from_config(current_app.config))
    hooks: Hooks = field(default_factory=Hooks)

    @classmethod
    def for_app(
        cls,
        directory: str | os.PathLike[str] | None = None,
        *,
        x_arg: XArgs = None,
        opts: tuple[str, ...] = (),
        require_repository: bool = True,
    ) -> Run:
        current = state()
        path = os.fspath(directory) if directory is not None else current.directory
        return cls(path, x_arg, opts, require_repository, current)

    # --- Alembic's objects -------------------------------------------------------

    @cached_property
    def config(self) -> Config:
        """The app's Alembic Config, after the configure callbacks, carrying the hooks."""
        return self.new_config()

    def new_config(self) -> Config:
        """Another Config for this run (same hooks), for a command that needs two."""
        if self.require_repository:
            check_repository(self.directory)
        config = self.state.migrate.get_config(self.directory, x_arg=self.x_arg, opts=self.opts)
        if self.require_repository:
            check_version_locations(config)
        config.attributes[HOOKS] = self.hooks
        return config

    @cached_property
    def script(self) -> ScriptDirectory:
        return self.script_directory(self.config)

    def script_directory(self, config: Config) -> ScriptDirectory:
        """The ScriptDirectory for ``config``: indexed unless ``MIGREPO_INDEX`` is off."""
        from alembic.script import ScriptDirectory

        if not self.settings.index:
            return ScriptDirectory.from_config(config)
        from migrepo.engine.scripts import IndexedScriptDirectory

        return IndexedScriptDirectory.from_config(config)

    def environment(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        config: Config | None = None,
        script: ScriptDirectory | None = None,
        **kw: Any,
    ) -> EnvironmentContext:
        """An EnvironmentContext whose ``configure()`` adds this run's hooks."""
        from alembic.runtime.environment import EnvironmentContext

        env = EnvironmentContext(
            config if config is not None else self.config,
            script if script is not None else self.script,
            fn=fn,
            **kw,
        )
        hooks = env.config.attributes.get(HOOKS, self.hooks)
        configure = env.configure

        def configure_with_hooks(*args: Any, **options: Any) -> None:
            configure(*args, **hooks.merge(options))
            for hook in hooks.after_configure:
                hook(env.get_context())

        # env.py reaches this instance through alembic.context, whose functions
        # look the method up on the instance at each call: setting it here
        # changes this one run's context, not the class or any module.
        env.configure = configure_with_hooks  # type: ignore[method-assign]
        return env

    def run_env(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        config: Config | None = None,
        script: ScriptDirectory | None = None,
        **kw: Any,
    ) -> None:
        """Run env.py with ``fn``, as Alembic's commands do; one env.py at a time."""
        with ENV_LOCK:
            env = self.environment(fn, config=config, script=script, **kw)
            with env:
                env.script.run_env()

    # --- the database ------------------------------------------------------------

    @property
    def db(self) -> Any:
        return self.state.db

    @property
    def configure_args(self) -> Mapping[str, Any]:
        """The ``Migrate(...)`` keywords, read only: migrepo never writes to them."""
        return self.state.configure_args

    def engine_for(self, bind: str) -> Any:
        engines = getattr(self.db, "engines", None)
        return engines.get(bind or None) if engines is not None else None

    def default_engine(self) -> Any:
        if self.db is None:
            return None
        engines = getattr(self.db, "engines", None)
        if engines is not None:
            return engines.get(None)
        return getattr(self.db, "engine", None)

    @cached_property
    def ledger_table(self) -> str:
        """``MIGREPO_LEDGER_TABLE``, checked before anything runs."""
        return check_ledger_table(
            self.settings.ledger_table,
            version_table=self.configure_args.get("version_table") or DEFAULT_VERSION_TABLE,
            dialect=getattr(getattr(self.default_engine(), "dialect", None), "name", None),
        )

    # --- the per-run hooks -------------------------------------------------------

    @contextmanager
    def recording(self, direction: str | None) -> Iterator[Recorder | None]:
        """Hide the ledger table from autogenerate and, with a ``direction``, record steps.

        A step that fails gets a ``failed`` row after its rollback.
        """
        from migrepo._best_effort import BestEffort, scope
        from migrepo.db.ledger import Recorder
        from migrepo.store.objects import ObjectCache

        self.hooks.ledger_table = self.ledger_table
        recorder = None
        if direction is not None:
            recorder = Recorder(
                self.ledger_table,
                self.directory,
                ObjectCache(self.directory),
                engine_for=self.engine_for,
                schema=self.configure_args.get("version_table_schema"),
            )
        self.hooks.recorder = recorder
        try:
            # The index and the recorder share one run's warnings: each kind warns once.
            with scope(recorder.effort if recorder is not None else BestEffort()):
                yield recorder
        except BaseException as exc:
            if recorder is not None and direction in ("upgrade", "downgrade"):
                with suppress(Exception):  # the original error matters more than the ledger's
                    recorder.record_failure(exc, direction)
            raise
        finally:
            self.hooks.recorder = None

    @contextmanager
    def moving(
        self,
        *,
        lock: bool = True,
        lock_timeout: float | None = None,
        single_transaction: bool | None = None,
    ) -> Iterator[None]:
        """The frame of a command that moves the database: the lock and the transactions.

        With ``lock``, the migration lock of the app's default database (see
        :mod:`migrepo.db.lock`) is held for the whole block, so Alembic reads the
        current revision only once no other run can change it. Every run of
        the app takes this one lock first, single or multi-database, so runs of
        one app never overlap on its binds either. ``lock_timeout`` (default:
        ``MIGREPO_LOCK_TIMEOUT``, else no limit) bounds the wait.

        Each revision commits in a transaction of its own, with its version
        update and its ledger row (Alembic's ``transaction_per_migration``).
        ``single_transaction`` (default: ``MIGREPO_SINGLE_TRANSACTION``, else
        ``Migrate(..., transaction_per_migration=...)``) restores one
        transaction for the whole run.
        """
        per_revision = self.transaction_per_revision(single_transaction)
        timeout = self.lock_timeout(lock_timeout) if lock else None
        with ExitStack() as stack:
            if lock:
                stack.enter_context(self._database_lock(timeout))
            self.hooks.transaction_per_migration = per_revision
            self.hooks.transaction_mode_given = (
                single_transaction is not None or self.settings.single_transaction is not None
            )
            try:
                yield
            finally:
                self.hooks.transaction_per_migration = None
                self.hooks.transaction_mode_given = False

    def _database_lock(self, timeout: float | None) -> Any:
        from migrepo.db.lock import migration_lock

        engine = self.default_engine()
        if engine is None:  # no database: the command itself says so
            return nullcontext()
        return migration_lock(
            engine,
            version_table=self.configure_args.get("version_table") or DEFAULT_VERSION_TABLE,
            schema=self.configure_args.get("version_table_schema"),
            timeout=timeout,
            directory=self.directory,
        )

    def lock_timeout(self, value: float | None) -> float | None:
        """Seconds to wait for the lock: the argument, else ``MIGREPO_LOCK_TIMEOUT``.

        None waits as long as it takes.
        """
        source = "--lock-timeout"
        if value is None:
            value = self.settings.lock_timeout
            source = "MIGREPO_LOCK_TIMEOUT"
            if value is None:
                return None
        try:
            if isinstance(value, bool):
                raise TypeError(value)
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not seconds > 0:
            raise UsageError(f"invalid {source} {value!r}: give a number of seconds above 0")
        return None if math.isinf(seconds) else seconds

    def transaction_per_revision(self, single_transaction: bool | None) -> bool:
        """The argument, else ``MIGREPO_SINGLE_TRANSACTION``, else ``Migrate(...)``'s,
        else True.
        """
        if single_transaction is None:
            configured = self.settings.single_transaction
            if isinstance(configured, str) and configured.strip().lower() in _TRUE | _FALSE:
                configured = configured.strip().lower() in _TRUE
            if configured is not None and not isinstance(configured, bool):
                raise UsageError(
                    f"invalid MIGREPO_SINGLE_TRANSACTION {configured!r}: use True or False"
                )
            single_transaction = configured
        if single_transaction is not None:
            return not single_transaction
        return bool(self.configure_args.get("transaction_per_migration", True))
