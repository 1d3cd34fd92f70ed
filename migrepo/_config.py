"""Alembic configuration for migrepo: imported only when a command needs it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, overload

from alembic.config import Config as AlembicConfig

from migrepo._compat import LEGACY_SEPARATOR_OPTION

TEMPLATES = Path(__file__).parent / "templates"


class Config(AlembicConfig):
    """Alembic's Config, with migrepo's templates as the template directory.

    ``template_directory`` overrides it, for ``flask db init -t PATH``.
    """

    def __init__(self, *args: Any, template_directory: str | None = None, **kwargs: Any) -> None:
        self.template_directory = template_directory
        # Alembic binds its default stdout when it is imported; bind it now so
        # output follows sys.stdout as it is at call time (as under a test runner).
        kwargs.setdefault("stdout", sys.stdout)
        super().__init__(*args, **kwargs)

    def get_template_directory(self) -> str:
        return self.template_directory or str(TEMPLATES)

    @overload
    def get_main_option(self, name: str, default: str) -> str: ...

    @overload
    def get_main_option(self, name: str, default: str | None = None) -> str | None: ...

    def get_main_option(self, name: str, default: str | None = None) -> str | None:
        value = super().get_main_option(name, default)
        if value is None and name == LEGACY_SEPARATOR_OPTION:
            # migrepo's alembic.ini names only path_separator; Alembic before
            # 1.16 reads its old name (see migrepo._compat).
            return super().get_main_option("path_separator")
        return value


class InitConfig(Config):
    """The Config of ``flask db init`` from one of migrepo's templates.

    Alembic's ``init`` ends by asking to edit the "configuration/connection"
    settings in alembic.ini, but a migrepo env.py takes the database URL from
    the app. Alembic offers no way to leave out that one line, so the
    messaging options (which Alembic reads for each message it prints) turn
    quiet once every file ``init`` writes exists: the lines about creating
    them stay as Alembic and Flask-Migrate print them.
    """

    def __init__(self, *args: Any, written: Iterable[Path] = (), **kwargs: Any) -> None:
        self.written = list(written)
        super().__init__(*args, **kwargs)

    @property
    def messaging_opts(self) -> Any:
        from alembic.util import immutabledict

        done = bool(self.written) and all(path.exists() for path in self.written)
        return immutabledict({"quiet": done or getattr(self.cmd_opts, "quiet", False)})


def make_config(
    directory: str, *, x_args: Iterable[str] = (), flags: Iterable[str] = ()
) -> Config:
    """The Config for a migrations directory, before the configure callbacks."""
    config = Config(os.path.join(directory, "alembic.ini"))
    # ConfigParser interpolates values: a literal % in the path must be doubled.
    config.set_main_option("script_location", directory.replace("%", "%%"))
    config.cmd_opts = argparse.Namespace(x=list(x_args))
    for flag in flags:
        setattr(config.cmd_opts, flag, True)
    return config
