"""The database the checks run on, and how Alembic is pointed at it.

env.py files take their engines from the app (``current_app.extensions
['migrate'].db``), which other threads share: nothing here changes it.
Instead the run carries the target engines in its own ``config.attributes``:

* migrepo's env.py (:mod:`migrepo.runtime`) connects to them directly;
* an env.py written for Flask-Migrate connects to the app's engine and
  passes that connection to ``context.configure()``; the run's
  EnvironmentContext swaps it for a connection to the target before Alembic
  sees it. Nothing is written through the app's connection.

A ``configure()`` call with any other connection (an env.py that builds its
own engine) is refused before anything runs: migrepo cannot tell where it
points.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrepo.engine.run import ENV_LOCK, Run, XArgs
from migrepo.errors import UsageError

if TYPE_CHECKING:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine

    from migrepo._config import Config
    from migrepo.testing import Target

# config.attributes key: bind name -> the target Engine; read by migrepo.runtime.
TARGETS = "migrepo.targets"


# Async drivers (the aioflask templates) and the sync driver that reads the same database.
_SYNC_DRIVERS = {
    "aiosqlite": "pysqlite",
    "asyncpg": "psycopg",
    "psycopg_async": "psycopg",
    "aiomysql": "pymysql",
    "asyncmy": "pymysql",
}


def sync_engine(url: Any, **kw: Any) -> Engine:
    """An engine for plain synchronous reads of ``url``, whose driver may be async."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(url)
    driver = _SYNC_DRIVERS.get(url.get_driver_name())
    if driver is not None:
        url = url.set(drivername=f"{url.get_backend_name()}+{driver}")
    return create_engine(url, **kw)


def app_binds() -> list[str]:
    """The binds the migrations cover: ``[""]``, plus every bind for a multidb directory."""
    from migrepo.engine.run import state
    from migrepo.runtime import bind_names

    current = state()
    mako = os.path.join(current.directory, "script.py.mako")
    try:
        with open(mako, encoding="utf-8") as f:
            multidb = "engine_name" in f.read()
    except OSError:
        multidb = False
    return [""] + (bind_names() if multidb else [])


def app_engines() -> dict[str, Engine]:
    from migrepo.engine.run import state
    from migrepo.runtime import _engine

    db = state().db
    if db is None:
        raise UsageError("Migrate was set up without a database: use `Migrate(app, db)`")
    return {bind: _engine(db, bind) for bind in app_binds()}


def as_mapping(target: Target, binds: list[str]) -> dict[str, str]:
    """``target`` as bind -> URL, checked against the binds the migrations cover."""
    if isinstance(target, str):
        if binds != [""]:
            raise UsageError(
                f"this app migrates several databases ({_names(binds)}): "
                "give one URL per bind, as BIND=URL ('=URL' for the default)"
            )
        return {"": target}
    found = {str(k or ""): str(v) for k, v in target.items()}
    missing = [b for b in binds if b not in found]
    extra = [b for b in found if b not in binds]
    if missing or extra:
        raise UsageError(
            f"the database URLs name the binds {_names(list(found))} but the app migrates "
            f"{_names(binds)}: give one URL per bind"
        )
    return found


def _names(binds: list[str]) -> str:
    return ", ".join(repr(b) if b else "the default" for b in binds)


def _same_database(a: Any, b: Any) -> bool:
    from sqlalchemy.engine import make_url

    a, b = make_url(a), make_url(b)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        if not a.database or not b.database or ":memory:" in (a.database, b.database):
            return False
        return os.path.realpath(a.database) == os.path.realpath(b.database)
    return (a.host or "", a.port, a.database) == (b.host or "", b.port, b.database)


def refuse_app_database(urls: Mapping[str, str]) -> None:
    """A UsageError if a URL points at one of the app's databases without being its URL."""
    from migrepo.engine.run import state

    every = dict(app_engines())
    for key, engine in (getattr(state().db, "engines", None) or {}).items():
        every.setdefault(key or "", engine)  # binds the migrations do not cover, too
    for bind, engine in every.items():
        configured = engine.url.render_as_string(hide_password=False)
        for given in urls.values():
            if _same_database(given, engine.url) and given != configured:
                raise UsageError(
                    f"{_display(given)} is the app's configured database "
                    f"({_names([bind])}): the checks upgrade and downgrade it. "
                    "Give a throwaway database, or its exact configured URL to test it anyway"
                )


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def require_empty(urls: Mapping[str, str]) -> None:
    from sqlalchemy import inspect

    for url in urls.values():
        engine = sync_engine(url)
        try:
            with engine.connect() as conn:
                tables = inspect(conn).get_table_names()
        finally:
            engine.dispose()
        if tables:
            raise UsageError(
                f"the database {_display(url)} is not empty "
                f"(tables: {', '.join(sorted(tables))}): the checks need an empty database"
            )


@contextmanager
def throwaway(*, url: Target | None, create_db: bool) -> Iterator[Target]:
    binds = app_binds()
    engines = app_engines()
    if url is not None and create_db:
        raise UsageError("give either --url or --create-db, not both")
    if url is not None:
        urls = as_mapping(url, binds)
        refuse_app_database(urls)
        require_empty(urls)
        try:
            yield url
        finally:
            for given in urls.values():
                _empty(given)
        return
    with ExitStack() as stack:
        urls = {}
        for bind in binds:
            backend = engines[bind].url.get_backend_name()
            if backend == "sqlite" and not create_db:
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="migrepo-test-"))
                urls[bind] = f"sqlite:///{os.path.join(folder, (bind or 'default') + '.db')}"
            elif create_db:
                urls[bind] = stack.enter_context(scratch_database(engines[bind]))
            else:
                raise UsageError(
                    f"the app's database ({_names([bind])}) is {backend}, not SQLite: give "
                    "an empty database with --url, or --create-db to create a scratch one "
                    "on the app's server"
                )
        yield urls[""] if binds == [""] else urls


@contextmanager
def scratch_database(engine: Engine) -> Iterator[str]:
    """A new database on ``engine``'s server, dropped afterwards."""
    from sqlalchemy import text

    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="migrepo-test-") as folder:
            yield f"sqlite:///{os.path.join(folder, 'scratch.db')}"
        return
    if backend not in ("postgresql", "mysql", "mariadb"):
        raise UsageError(f"--create-db supports PostgreSQL, MySQL and MariaDB, not {backend}")
    name = f"migrepo_test_{uuid.uuid4().hex[:12]}"
    server = sync_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with server.connect() as conn:
                force = " WITH (FORCE)" if backend == "postgresql" else ""
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        server.dispose()


def _empty(url: str) -> None:
    """Drop what the checks created in a database the user gave (it was empty)."""
    from sqlalchemy import MetaData

    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            metadata = MetaData()
            metadata.reflect(conn)
            metadata.drop_all(conn)
    finally:
        engine.dispose()


# --- running Alembic on the target ---------------------------------------------


@dataclass
class TargetRun(Run):
    """A :class:`Run` whose env.py runs use the target's engines, not the app's."""

    targets: dict[str, Engine] = field(default_factory=dict)

    @classmethod
    def to(cls, urls: Mapping[str, str], directory: str | None, x_arg: XArgs = None) -> TargetRun:
        from sqlalchemy import create_engine

        base = Run.for_app(directory, x_arg=x_arg)
        run = cls(base.directory, x_arg=base.x_arg, state=base.state)
        run.targets = {bind: create_engine(url) for bind, url in urls.items()}
        # Each revision commits on its own: a failing check leaves the steps before it.
        run.hooks.transaction_per_migration = True
        run.hooks.transaction_mode_given = True
        return run

    def new_config(self) -> Config:
        config = super().new_config()
        config.attributes[TARGETS] = self.targets
        return config

    def run_env(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        config: Config | None = None,
        script: ScriptDirectory | None = None,
        **kw: Any,
    ) -> None:
        with ENV_LOCK, ExitStack() as swapped:
            env = self.environment(fn, config=config, script=script, **kw)
            _redirect(env, self.targets, app_engines(), swapped)
            with env:
                env.script.run_env()

    def dispose(self) -> None:
        for engine in self.targets.values():
            engine.dispose()


def _redirect(
    env: EnvironmentContext,
    targets: dict[str, Engine],
    app: dict[str, Engine],
    swapped: ExitStack,
) -> None:
    configure = env.configure
    ours = {id(e): bind for bind, e in targets.items()}
    theirs = {id(e): bind for bind, e in app.items()}

    def configure_on_target(*args: Any, **options: Any) -> None:
        connection: Connection | None = options.get("connection")
        engine = getattr(connection, "engine", None)
        if connection is None or (id(engine) not in ours and id(engine) not in theirs):
            raise UsageError(
                "env.py configured Alembic with a database migrepo cannot redirect to the "
                "test database: it must pass a connection from the app's Flask-SQLAlchemy "
                "engine, as the migrepo and Flask-Migrate env.py files do"
            )
        if id(engine) in theirs:
            target = targets[theirs[id(engine)]].connect()
            swapped.callback(target.close)
            swapped.callback(_commit, target)  # runs before close: callbacks unwind LIFO
            options["connection"] = target
        configure(*args, **options)

    # The same per-instance override Run.environment makes: this run's context only.
    env.configure = configure_on_target  # type: ignore[method-assign]


def _commit(connection: Connection) -> None:
    if connection.in_transaction():
        connection.commit()


def move(
    target: Target, revision: Any, direction: str, directory: str | None, x_arg: XArgs = None
) -> None:
    """Upgrade or downgrade the database at ``target`` to ``revision``."""
    from migrepo.engine import drive

    urls = as_mapping(target, app_binds())
    refuse_app_database(urls)
    run = TargetRun.to(urls, directory, x_arg)
    try:
        (drive.upgrade if direction == "upgrade" else drive.downgrade)(run, revision)
    finally:
        run.dispose()
