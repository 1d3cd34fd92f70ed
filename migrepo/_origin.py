"""Where in the user's migration code an exception was raised: the one traceback locator.

The ledger (which revision's step failed, on which database) and the error
policy (``revision r3 failed: ... (at file:line)``) both ask it.
"""

from __future__ import annotations

import os
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
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        path = os.path.abspath(frame.f_code.co_filename)
        revision_module = _is_revision_module(frame)
        if revision_module:
            revision_frame = frame
            name = frame.f_locals.get("engine_name")
            if isinstance(name, str):
                engine_name = name
        if revision_module or (root is not None and path.startswith(root)):
            innermost, line = frame, tb.tb_lineno
        tb = tb.tb_next
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
