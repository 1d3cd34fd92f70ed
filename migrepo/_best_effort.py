"""Best effort, the way git does it: an extra that fails says so once and carries on.

A migration's critical path is its DDL, its version row and its ledger row.
Everything around it (git lookups, the object cache, the revision index,
HEADS, any write into ``.migrepo/``) runs inside :meth:`BestEffort.attempt`:
a failure logs one warning line for that kind of work, and the caller
records the value as unknown (None). It never changes a command's exit
status. One :class:`BestEffort` belongs to one run (:func:`scope` makes
it the current one for the run's context, so the index and the ledger share
it); nothing is shared between runs or threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger("migrepo")


class BestEffort:
    """The warnings of one run: each kind of work warns at most once."""

    def __init__(self) -> None:
        self._warned: set[str] = set()
        self._guard = threading.Lock()

    @contextmanager
    def attempt(self, what: str) -> Iterator[None]:
        """Run the block; on any ``Exception``, warn once for ``what`` and go on.

        ``what`` completes "could not ...", e.g. ``"read git's HEAD"``.
        """
        try:
            yield
        except Exception as exc:
            self.warn(what, exc)

    def warn(self, what: str, exc: BaseException) -> None:
        from migrepo._text import mask_passwords, printable

        with self._guard:
            if what in self._warned:
                return
            self._warned.add(what)
        detail = " ".join(str(exc).split()) or type(exc).__name__
        log.warning(
            "migrepo could not %s (%s); carrying on without it", what,
            printable(mask_passwords(detail)),
        )


_CURRENT: ContextVar[BestEffort | None] = ContextVar("migrepo_best_effort", default=None)


@contextmanager
def scope(effort: BestEffort) -> Iterator[BestEffort]:
    """Make ``effort`` the current run's for the ``with`` block (this thread or task only)."""
    token = _CURRENT.set(effort)
    try:
        yield effort
    finally:
        _CURRENT.reset(token)


def current() -> BestEffort:
    """The current run's :class:`BestEffort`, or a new one outside a run."""
    return _CURRENT.get() or BestEffort()


def writing(folder: object) -> str:
    """The one "what" of every failed write into ``folder`` (``.migrepo``): one warning."""
    return f"write to {folder}"
