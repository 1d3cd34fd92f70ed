"""Alembic configuration for migrepo: imported only when a command needs it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig

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
