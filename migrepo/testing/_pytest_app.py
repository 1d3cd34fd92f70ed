"""Where the pytest plugin gets the app and the database options from.

Imported by :mod:`migrepo.testing.plugin` and :mod:`migrepo.testing._pytest_items`;
importing it imports neither Flask nor the app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flask import Flask

# A throwaway database: a URL, or bind name -> URL for a multi-database app.
Target = str | Mapping[str, str]

_APP = pytest.StashKey["Flask"]()


class MigrepoSetupError(Exception):
    """The app or the throwaway database could not be set up; the message says why."""



def load_app(config: pytest.Config) -> Flask:
    """The app the options name, imported once per session."""
    app = config.stash.get(_APP, None)
    if app is not None:
        return app
    from flask.cli import NoAppException, ScriptInfo

    path = (
        config.getoption("migrepo_app")
        or config.getini("migrepo_app")
        or os.environ.get("FLASK_APP")
        or None
    )
    # Flask's own loader: the import path forms, the factories and the errors
    # are those of `flask --app`; FLASK_DEBUG is not applied to the app.
    info = ScriptInfo(app_import_path=path, set_debug_flag=False)
    try:
        app = info.load_app()
    except NoAppException as exc:
        hint = "" if path else " (set --migrepo-app or the migrepo_app ini option)"
        raise MigrepoSetupError(f"no Flask app for migrepo: {exc}{hint}") from exc
    if "migrate" not in app.extensions:
        raise MigrepoSetupError(
            f"the app {app.import_name!r} has no Migrate extension: "
            "create it with `Migrate(app, db)` (or `migrate.init_app(app, db)` in the factory)"
        )
    config.stash[_APP] = app
    return app


def database_options(config: pytest.Config) -> tuple[Target | None, bool]:
    """``--migrepo-url`` (a URL, or bind -> URL) and ``--migrepo-create-db``."""
    given: list[str] = config.getoption("migrepo_url") or []
    if not given:
        return None, bool(config.getoption("migrepo_create_db"))
    binds: dict[str, str] = {}
    for value in given:
        bind, sep, url = value.partition("=")
        if not sep or "://" in bind or ":" in bind:
            bind, url = "", value  # a plain URL; '=' may be in its query string
        if bind in binds:
            name = f"bind {bind!r}" if bind else "the default database"
            raise MigrepoSetupError(f"--migrepo-url gives {name} twice: give one URL per bind")
        binds[bind] = url
    target: Target = binds[""] if list(binds) == [""] else binds
    return target, bool(config.getoption("migrepo_create_db"))


def known(exc: BaseException) -> bool:
    """An error whose message says it all; any other keeps its traceback."""
    from migrepo.errors import MigrepoError

    return isinstance(exc, (MigrepoSetupError, MigrepoError))
