"""migrepo: Flask-Migrate compatible schema migrations, with a git-style revision repository.

Importing this package, or creating ``Migrate(app, db)``, imports neither
Alembic, networkx nor GitPython: they load when a command needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # Config subclasses Alembic's Config, so it loads only when asked for.
    if name == "Config":
        from migrepo._config import Config

        return Config
    raise AttributeError(f"module 'migrepo' has no attribute {name!r}")
