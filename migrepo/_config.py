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


def make_config(
    directory: str, *, x_args: Iterable[str] = (), flags: Iterable[str] = ()
) -> Config:
    """The Config for a migrations directory, before the configure callbacks."""
    config = Config(os.path.join(directory, "alembic.ini"))
    config.set_main_option("script_location", directory)
    config.cmd_opts = argparse.Namespace(x=list(x_args))
    for flag in flags:
        setattr(config.cmd_opts, flag, True)
    return config
