"""Output into a closed pipe (``flask db log | head -1``): stop quietly, as git does."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click


def exit_quietly_on_broken_pipe() -> NoReturn:
    """The reader of stdout went away: stop writing, with no message and status 0.

    Status 0, not git's 141 (SIGPIPE), because the commands whose text
    Alembic prints (``history``, ``heads``, ``current``) end that way: Alembic
    drops a broken pipe's error. A pipeline under ``set -o pipefail`` then
    behaves the same for every ``flask db`` command.

    stdout is pointed at the null device first, so that the interpreter's
    final flush of what is still buffered cannot fail again at exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer)
        pass
    raise click.exceptions.Exit(0)
