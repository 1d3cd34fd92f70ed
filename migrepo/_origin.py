"""Where in the user's migration code an exception was raised: the one traceback locator.

The ledger (which revision's step failed, on which database) and the error
policy (``revision r3 failed: ... (at file:line)``) both ask it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType


@dataclass(frozen=True, slots=True)
class Origin:
    """The migration code an exception came from.

    ``path`` and ``line`` are those of the innermost frame that ran migration
    code: a file inside the migrations directory (env.py, a revision file) or a
    revision module elsewhere (another version location). ``revision`` and
    ``revision_path`` name the innermost revision module on the way, when
    there is one, and ``engine_name`` the multi-database templates' bind
    (``upgrade_<engine_name>()``), '' for a single database. ``loading`` is
    true when the innermost frame is a revision file's own top level: the
    file was being imported, not migrated.
    """

    path: str
    line: int
    revision: str | None = None
    revision_path: str | None = None
    engine_name: str = ""
    loading: bool = False

    @property
    def where(self) -> str:
        """``path:line``, relative to the working directory when the file is below it."""
        relative = os.path.relpath(self.path)
        return f"{self.path if relative.startswith('..') else relative}:{self.line}"


def frames(exc: BaseException) -> Iterator[tuple[FrameType, int]]:
    """The frames ``exc`` passed through, outermost first, each with its line: the one walk."""
    tb = exc.__traceback__
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def innermost_file(exc: BaseException) -> str | None:
    """The file of the frame that raised ``exc``."""
    found = None
    for frame, _ in frames(exc):
        found = frame.f_code.co_filename
    return found


def line_in(exc: BaseException, path: str | os.PathLike[str]) -> int | None:
    """The line of the innermost frame of ``exc`` that ran the file ``path``."""
    wanted = os.path.realpath(path)
    found = None
    for frame, line in frames(exc):
        if os.path.realpath(frame.f_code.co_filename) == wanted:
            found = line
    return found


def _is_revision_module(frame: FrameType) -> bool:
    names = frame.f_globals
    return isinstance(names.get("revision"), str) and "down_revision" in names


def locate(exc: BaseException, directory: str | os.PathLike[str] | None = None) -> Origin | None:
    """The migration code ``exc`` was raised in; None when it came from elsewhere.

    Without ``directory`` only revision modules (those that define
    ``revision`` and ``down_revision``) count as migration code.
    """
    root = os.path.join(os.path.abspath(directory), "") if directory is not None else None
    env_py = os.path.join(root, "env.py") if root is not None else None
    innermost: FrameType | None = None
    line = 0
    revision_frame: FrameType | None = None
    engine_name = ""
    for frame, frame_line in frames(exc):
        path = os.path.abspath(frame.f_code.co_filename)
        revision_module = _is_revision_module(frame)
        if revision_module:
            revision_frame = frame
            name = frame.f_locals.get("engine_name")
            if isinstance(name, str):
                engine_name = name
        if revision_module or (root is not None and path.startswith(root)):
            innermost, line = frame, frame_line
    if innermost is None:
        return None
    path = os.path.abspath(innermost.f_code.co_filename)
    loading = innermost.f_code.co_name == "<module>" and path != env_py
    revision = revision_frame.f_globals["revision"] if revision_frame is not None else None
    return Origin(
        path=path,
        line=line,
        revision=revision,
        revision_path=(
            revision_frame.f_code.co_filename if revision_frame is not None else None
        ),
        engine_name=engine_name,
        loading=loading,
    )
