"""Best effort, the way git does it: an extra that fails says so once and carries on.

A migration's critical path is its DDL, its version row and its ledger row.
Everything around it (git lookups, the object cache, the revision index,
HEADS, any write into ``.migrepo/``) runs inside :meth:`BestEffort.attempt`:
a failure logs one warning line for that kind of work, and the caller
records the value as unknown (None). It never changes a command's exit
status. One :class:`BestEffort` belongs to one run; nothing is shared
between runs or threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
