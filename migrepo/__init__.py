"""migrepo: Flask-Migrate compatible schema migrations, with a git-style revision repository.

Importing this package, or creating ``Migrate(app, db)``, imports neither
Alembic, networkx nor GitPython: they load when a command needs them.
"""

from __future__ import annotations

import typing as _typing

from migrepo._api import (
    branches,
    check,
    current,
    downgrade,
    edit,
    heads,
    history,
    init,
    list_templates,
    merge,
    migrate,
    revision,
    show,
    stamp,
    upgrade,
)
from migrepo._extension import Migrate, MigrateState
from migrepo._version import __version__
from migrepo.engine.commands import revision_graph
from migrepo.engine.status import status
from migrepo.errors import MigrepoError

if _typing.TYPE_CHECKING:
    from migrepo._config import Config

__all__ = [
    "Config",
    "Migrate",
    "MigrateState",
    "MigrepoError",
    "__version__",
    "branches",
    "check",
    "current",
    "downgrade",
    "edit",
    "heads",
    "history",
    "init",
    "list_templates",
    "merge",
    "migrate",
    "revision",
    "revision_graph",
    "show",
    "stamp",
    "status",
    "upgrade",
]


# The public modules: what env.py files, error handlers and embedding apps import.
_PUBLIC_MODULES = ["cli", "errors", "graph", "runtime"]


def __dir__() -> list[str]:
    # Only the public names: not the names this file imports for itself, nor
    # the implementation modules that importing it loads.
    return sorted([*__all__, *_PUBLIC_MODULES])


def __getattr__(name: str) -> _typing.Any:
    # Config subclasses Alembic's Config, so it loads only when asked for.
    if name == "Config":
        from migrepo._config import Config

        return Config
    raise AttributeError(f"module 'migrepo' has no attribute {name!r}")
