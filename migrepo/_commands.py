"""The migration commands: each resolves the app's settings and runs Alembic.

These functions raise :mod:`migrepo.errors` exceptions and Alembic's
``CommandError``; ``flask db`` turns those into one-line messages, and the
Flask-Migrate style functions in :mod:`migrepo._api` log them and exit.
Alembic is imported inside each function, never at module import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import current_app

from migrepo.errors import AppContextError, RepositoryError, UsageError

if TYPE_CHECKING:
    import networkx as nx
    from alembic.script import Script

    from migrepo._config import Config
    from migrepo._extension import MigrateState

# What a revision id may be: it names a file and fills a VARCHAR(32) column.
_REV_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,31}")

XArgs = str | Sequence[str] | None


def state() -> MigrateState:
    """The ``app.extensions['migrate']`` of the current app, or a clear error."""
    try:
        extensions = current_app.extensions
    except RuntimeError:
        raise AppContextError(
            "no Flask application context: run this inside `with app.app_context():`"
        ) from None
    found = extensions.get("migrate")
    if found is None:
        raise AppContextError(
            f"the app {current_app.name!r} has no migrepo extension: "
            "create it with `Migrate(app, db)` or `migrate.init_app(app, db)`"
        )
    return found


def resolve_directory(directory: str | os.PathLike[str] | None) -> str:
    return os.fspath(directory) if directory is not None else state().directory


def get_config(
    directory: str | os.PathLike[str] | None,
    *,
    x_arg: XArgs = None,
    opts: Sequence[str] | None = None,
    require_repository: bool = True,
) -> Config:
    """The app's Alembic Config for ``directory``, after the configure callbacks."""
    current = state()
    path = resolve_directory(directory)
    if require_repository:
        _check_repository(path)
    return current.migrate.get_config(path, x_arg=x_arg, opts=opts)


def _check_repository(path: str) -> None:
    if not os.path.isdir(path):
        raise RepositoryError(
            f"no migrations directory at {path!r}: run `flask db init` to create it, "
            "or pass `-d DIRECTORY`"
        )
    if not os.path.isfile(os.path.join(path, "env.py")):
        raise RepositoryError(
            f"{path!r} is not a migrations directory (it has no env.py): "
            "run `flask db init` on an empty directory, or pass `-d DIRECTORY`"
        )


def check_rev_id(rev_id: str | None) -> None:
    if rev_id is not None and not _REV_ID.fullmatch(rev_id):
        raise UsageError(
            f"invalid --rev-id {rev_id!r}: use 1 to 32 letters, digits, '_' or '-', "
            "starting with a letter, digit or '_'"
        )


# --- templates and init ------------------------------------------------------


def list_templates() -> list[tuple[str, str]]:
    """The packaged templates, as ``(name, summary)`` pairs sorted by name."""
    from migrepo._config import TEMPLATES

    found = []
    for folder in sorted(TEMPLATES.iterdir()):
        readme = folder / "README"
        if readme.is_file():
            summary = readme.read_text(encoding="utf-8").splitlines()[0].strip()
            found.append((folder.name, summary))
    return found


def init(
    directory: str | os.PathLike[str] | None = None,
    multidb: bool = False,
    template: str | None = None,
    package: bool = False,
) -> str:
    """Create a migrations directory from a template; returns its path."""
    from alembic import command

    from migrepo._config import Config

    path = resolve_directory(directory)
    if os.path.exists(path) and not os.path.isdir(path):
        raise RepositoryError(
            f"cannot create migrations directory {path!r}: a file is in the way; "
            "pass `-d DIRECTORY` to create it elsewhere"
        )
    if os.path.isdir(path) and os.listdir(path):
        raise RepositoryError(
            f"migrations directory {path!r} already exists and is not empty: "
            "pass `-d DIRECTORY` to create one elsewhere"
        )
    template_directory = None
    if template is not None and ("/" in template or "\\" in template):
        template_directory, template = os.path.split(template.rstrip("/\\"))
        folder = os.path.join(template_directory, template)
        if not os.path.isdir(folder):
            raise UsageError(f"no template directory at {folder!r}")
    if template is None:
        template = "flask-multidb" if multidb else "flask"
    config = Config(template_directory=template_directory)
    config.set_main_option("script_location", path.replace("%", "%%"))
    config.config_file_name = os.path.join(path, "alembic.ini")
    config = state().migrate.call_configure_callbacks(config)
    command.init(config, path, template=template, package=package)
    return path


# --- writing revision files --------------------------------------------------


def revision(
    directory: str | os.PathLike[str] | None = None,
    message: str | None = None,
    autogenerate: bool = False,
    sql: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | None = None,
    version_path: str | None = None,
    rev_id: str | None = None,
    x_arg: XArgs = None,
) -> list[Script]:
    """Write a new revision file; with ``autogenerate``, from the model/database diff."""
    from alembic import command

    check_rev_id(rev_id)
    config = get_config(directory, x_arg=x_arg, opts=["autogenerate"] if autogenerate else None)
    scripts = command.revision(
        config,
        message,
        autogenerate=autogenerate,
        sql=sql,
        head=head,
        splice=splice,
        branch_label=branch_label,
        version_path=version_path,
        rev_id=rev_id,
    )
    return _as_list(scripts)


def merge(
    directory: str | os.PathLike[str] | None = None,
    revisions: str | list[str] | tuple[str, ...] = "",
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
) -> Script | None:
    """Write a revision that joins ``revisions``."""
    from alembic import command

    check_rev_id(rev_id)
    config = get_config(directory)
    return command.merge(
        config, revisions, message=message, branch_label=branch_label, rev_id=rev_id
    )


def edit(directory: str | os.PathLike[str] | None = None, revision: str = "current") -> None:
    """Open a revision file in ``$EDITOR``."""
    from alembic import command

    command.edit(get_config(directory), revision)


# --- moving the database -----------------------------------------------------


def upgrade(
    directory: str | os.PathLike[str] | None = None,
    revision: str = "head",
    sql: bool = False,
    tag: str | None = None,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    command.upgrade(get_config(directory, x_arg=x_arg), revision, sql=sql, tag=tag)


def downgrade(
    directory: str | os.PathLike[str] | None = None,
    revision: str = "-1",
    sql: bool = False,
    tag: str | None = None,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    if sql and revision == "-1":
        # Offline mode has no database to count back from.
        revision = "head:-1"
    command.downgrade(config, revision, sql=sql, tag=tag)


def stamp(
    directory: str | os.PathLike[str] | None = None,
    revision: str | list[str] | tuple[str, ...] = "head",
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    config = get_config(directory, x_arg=x_arg)
    command.stamp(config, revision, sql=sql, tag=tag, purge=purge)


def check(directory: str | os.PathLike[str] | None = None, x_arg: XArgs = None) -> None:
    """Raise ``AutogenerateDiffsDetected`` when the models and the database differ."""
    from alembic import command

    command.check(get_config(directory, x_arg=x_arg))


# --- reading -----------------------------------------------------------------


def show(directory: str | os.PathLike[str] | None = None, revision: str = "head") -> None:
    from alembic import command

    command.show(get_config(directory), revision)


def history(
    directory: str | os.PathLike[str] | None = None,
    rev_range: str | None = None,
    verbose: bool = False,
    indicate_current: bool = False,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    check_rev_range(rev_range)
    command.history(
        get_config(directory, x_arg=x_arg),
        rev_range,
        verbose=verbose,
        indicate_current=indicate_current,
    )


def check_rev_range(rev_range: str | None) -> None:
    """Alembic splits a range on ':' and fails with a traceback on more than one."""
    if rev_range is not None and rev_range.count(":") > 1:
        raise UsageError(f"invalid revision range {rev_range!r}: use START:END, START: or :END")


def heads(
    directory: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    resolve_dependencies: bool = False,
) -> None:
    from alembic import command

    command.heads(
        get_config(directory), verbose=verbose, resolve_dependencies=resolve_dependencies
    )


def branches(directory: str | os.PathLike[str] | None = None, verbose: bool = False) -> None:
    from alembic import command

    command.branches(get_config(directory), verbose=verbose)


def current(
    directory: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    x_arg: XArgs = None,
) -> None:
    from alembic import command

    command.current(get_config(directory, x_arg=x_arg), verbose=verbose)


def _as_list(scripts: Any) -> list[Any]:
    if scripts is None:
        return []
    return list(scripts) if isinstance(scripts, list) else [scripts]


# --- the revision graph ------------------------------------------------------


def revision_graph(directory: str | os.PathLike[str] | None = None) -> nx.DiGraph:
    """The revision graph of a migrations directory, as an ``nx.DiGraph``.

    Nodes are revision ids carrying their ``record``; edges run parent ->
    child. No revision file is executed unless its identifiers are not
    plain literals. Raises a :class:`~migrepo.errors.GraphError` for a file
    that cannot be read or a graph that is unsound.
    """
    from migrepo._reader import read_revision_files
    from migrepo.graph import build_graph

    files = read_revision_files(get_config(directory))
    for found in files:
        if found.error is not None:
            raise found.error
    return build_graph(found.record for found in files if found.record is not None)


def revisions_in_range(directory: str | os.PathLike[str] | None, rev_range: str) -> list[str]:
    """The revision ids in an Alembic range such as ``ae1:head``, newest first."""
    from alembic.script import ScriptDirectory

    check_rev_range(rev_range)
    if ":" not in rev_range:
        raise UsageError(f"invalid revision range {rev_range!r}: use START:END, START: or :END")
    base, _, head = rev_range.partition(":")
    script = ScriptDirectory.from_config(get_config(directory))
    return [sc.revision for sc in script.walk_revisions(base or "base", head or "heads")]


def current_revisions(
    directory: str | os.PathLike[str] | None = None, x_arg: XArgs = None
) -> set[str]:
    """The revisions the database (every database, for multidb) is at."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = get_config(directory, x_arg=x_arg)
    script = ScriptDirectory.from_config(config)
    found: set[str] = set()

    def collect(_rev: Any, context: Any) -> list[Any]:
        found.update(context.get_current_heads())
        return []

    with EnvironmentContext(config, script, fn=collect, dont_mutate=True):
        script.run_env()
    return found


def merge_heads(
    directory: str | os.PathLike[str] | None = None,
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
) -> Script | None:
    """Merge every head into one revision; with a single head, write nothing."""
    from migrepo.graph import heads as graph_heads

    tips = graph_heads(revision_graph(directory))
    if len(tips) < 2:
        return None
    if message is None:
        message = f"merge heads {', '.join(tips)}"
    return merge(directory, tuple(tips), message, branch_label, rev_id)


def verify(directory: str | os.PathLike[str] | None = None, strict: bool = False) -> list[Any]:
    """Every integrity problem of the migrations directory, as ``Finding`` objects."""
    from migrepo._reader import read_revision_files
    from migrepo._verify import Subject
    from migrepo._verify import verify as run_checks

    files = read_revision_files(get_config(directory), execute=True)
    return run_checks(Subject(files, strict=strict))
