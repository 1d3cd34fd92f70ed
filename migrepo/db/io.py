"""migrepo's own database reads and writes, whatever the driver: sync or async.

Flask-SQLAlchemy hands out a plain ``Engine`` even for an async driver
(``sqlite+aiosqlite://``, ``postgresql+psycopg_async://``, ``asyncpg``), and
such an engine fails with ``greenlet_spawn has not been called`` when used
directly. :func:`run_on` calls a sync-style function with a connection either
way: directly for a sync driver, through SQLAlchemy's asyncio layer for an
async one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")


def run_on(engine: Any, fn: Callable[[sa.Connection], T], *, begin: bool = False) -> T:
    """``fn(connection)`` on a connection to ``engine``'s database; its result.

    ``engine`` is an ``Engine`` or an ``AsyncEngine``. With ``begin``, the
    connection is in a transaction that commits when ``fn`` returns.

    An async driver's connections belong to the event loop that opened them,
    so the call gets a private copy of the engine's pool (same connect
    arguments) on a loop of its own, closed before returning: the app's pool
    never holds a connection bound to a loop that is gone. Called from a
    thread whose event loop is running, the loop runs in a worker thread.
    """
    engine = getattr(engine, "sync_engine", engine)  # an AsyncEngine: its sync core
    if not engine.dialect.is_async:
        with engine.begin() if begin else engine.connect() as connection:
            return fn(connection)

    import asyncio

    async def call() -> T:
        from sqlalchemy.ext.asyncio import AsyncEngine

        private = AsyncEngine(sa.create_engine(engine.url, pool=engine.pool.recreate()))
        try:
            async with private.begin() if begin else private.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await private.dispose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop in this thread
        return asyncio.run(call())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="migrepo-db") as worker:
        return worker.submit(asyncio.run, call()).result()
