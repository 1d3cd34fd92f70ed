"""Waiting for a migration lock: the announcement hook and the bounded poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from migrepo.errors import LockTimeout

OnWait = Callable[[str], None]

# How often a bounded wait asks again for a lock it could not get: starts short
# so that a lock freed soon is taken soon, and backs off to spare the server.
_FIRST_POLL, _LAST_POLL = 0.05, 0.5


def poll(
    attempt: Callable[[], bool], deadline: float, timeout: float | None, description: str
) -> None:
    """Call ``attempt`` until it returns True or the ``deadline`` (``time.monotonic()``) passes."""
    delay = _FIRST_POLL
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(description, timeout)
        time.sleep(min(delay, remaining))
        if attempt():
            return
        delay = min(delay * 2, _LAST_POLL)
