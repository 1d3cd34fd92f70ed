"""Alembic's post-write hooks (alembic.ini's ``[post_write_hooks]``) that fail.

A hook runs once the new revision file is written, so by the time it fails
the file is there. :func:`failed_hook_keeps_file` keeps it, lets the caller
record it (in HEADS), and says what happened.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from migrepo.errors import RepositoryError

if TYPE_CHECKING:
    from alembic.config import Config


@contextmanager
def failed_hook_keeps_file(config: Config, record: Callable[[], None]) -> Iterator[None]:
    """Around Alembic's ``revision`` or ``merge``: when a post-write hook fails, call
    ``record`` for the file that was written and raise an error naming the file and
    the hook's failure. Any other error passes through unchanged."""
    from alembic.script import write_hooks

    from migrepo.store.reader import list_revision_files

    before = set(list_revision_files(config))
    try:
        yield
    except Exception as exc:  # a hook may raise anything (a missing executable: OSError)
        frames = traceback.extract_tb(exc.__traceback__)
        if not any(frame.filename == write_hooks.__file__ for frame in frames):
            raise
        written = [path for path in list_revision_files(config) if path not in before]
        if not written:
            raise
        record()
        raise RepositoryError(
            f"{', '.join(map(str, written))} was written and recorded in HEADS, but a "
            f"post-write hook failed: {_first_line(exc)}; fix the hook in alembic.ini's "
            "[post_write_hooks] and run it on the file yourself, or delete the file and "
            "run `flask db heads --write`"
        ) from exc


def _first_line(exc: BaseException) -> str:
    from alembic.util import CommandError

    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(exc, CommandError) and text else f"{type(exc).__name__}: {text}"
