"""The Flask extension object.

This module imports nothing heavier than Flask: an app that only serves
requests pays for neither Alembic, networkx nor GitPython.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from migrepo._config import Config

ConfigureCallback = Callable[["Config"], "Config"]


class MigrateState:
    """What ``app.extensions['migrate']`` holds for one app.

    env.py files written for Flask-Migrate read ``.db``, ``.directory`` and
    ``.configure_args`` from here, and may mutate ``configure_args``.
    """

    def __init__(self, migrate: Migrate, db: Any, **configure_args: Any) -> None:
        self.migrate = migrate
        self.db = db
        self.directory = migrate.directory
        self.configure_args: dict[str, Any] = configure_args

    @property
    def metadata(self) -> Any:
        """The default metadata; very old env.py files read it from here."""
        return self.db.metadata


class Migrate:
    """Schema migrations for a Flask-SQLAlchemy app, through Alembic.

    ``Migrate(app, db)`` registers the ``flask db`` command group. Extra
    keyword arguments reach Alembic's ``EnvironmentContext.configure()``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: Any = None,
        directory: str | os.PathLike[str] = "migrations",
        command: str = "db",
        compare_type: bool = True,
        render_as_batch: bool = True,
        **kwargs: Any,
    ) -> None:
        self.configure_callbacks: list[ConfigureCallback] = []
        self.db = db
        self.command = command
        self.directory = os.fspath(directory)
        self.alembic_ctx_kwargs: dict[str, Any] = {
            **kwargs,
            "compare_type": compare_type,
            "render_as_batch": render_as_batch,
        }
        if app is not None and db is not None:
            self.init_app(app, db, directory)

    def init_app(
        self,
        app: Flask,
        db: Any = None,
        directory: str | os.PathLike[str] | None = None,
        command: str | None = None,
        compare_type: bool | None = None,
        render_as_batch: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Attach the extension to ``app``; arguments left as None keep the constructor's."""
        self.db = db if db is not None else self.db
        self.command = command or self.command
        if directory is not None:
            self.directory = os.fspath(directory)
        self.alembic_ctx_kwargs.update(kwargs)
        if compare_type is not None:
            self.alembic_ctx_kwargs["compare_type"] = compare_type
        if render_as_batch is not None:
            self.alembic_ctx_kwargs["render_as_batch"] = render_as_batch
        app.extensions["migrate"] = MigrateState(self, self.db, **self.alembic_ctx_kwargs)

        # Imported here so that the CLI depends on the library, never the reverse.
        from migrepo.cli import db as db_group

        app.cli.add_command(db_group, name=self.command)

    def configure(self, f: ConfigureCallback) -> ConfigureCallback:
        """Decorator: register a callback that receives the Alembic Config and returns it."""
        self.configure_callbacks.append(f)
        return f

    def call_configure_callbacks(self, config: Config) -> Config:
        for callback in self.configure_callbacks:
            config = callback(config)
        return config

    def get_config(
        self,
        directory: str | os.PathLike[str] | None = None,
        x_arg: str | Sequence[str] | None = None,
        opts: Sequence[str] | None = None,
    ) -> Config:
        """Build the Alembic Config for ``directory`` (default: the extension's).

        ``x_arg`` values reach ``context.get_x_argument()``; each name in
        ``opts`` is set to True on ``config.cmd_opts``.
        """
        from migrepo._config import make_config

        config = make_config(
            os.fspath(directory) if directory is not None else self.directory,
            x_args=[x_arg] if isinstance(x_arg, str) else list(x_arg or ()),
            flags=opts or (),
        )
        return self.call_configure_callbacks(config)
