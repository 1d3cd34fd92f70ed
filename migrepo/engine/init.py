"""``flask db init`` and ``flask db list-templates``: a migrations directory from a template."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from migrepo.engine.checks import find_template
from migrepo.engine.commands import resolve_directory, state
from migrepo.errors import RepositoryError

if TYPE_CHECKING:
    from migrepo.engine.options import InitOptions


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


def init(*, options: InitOptions) -> str:
    """Create a migrations directory from a template; returns its path."""
    from alembic import command

    from migrepo._config import InitConfig

    path = resolve_directory(options.directory)
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
    _check_parents_are_directories(path)
    template, template_directory = options.template, None
    if template is not None:
        template_directory, template = find_template(template)
    if template is None:
        template = "flask-multidb" if options.multidb else "flask"
    elif options.multidb and template_directory is None and template in ("flask", "aioflask"):
        template += "-multidb"  # the multi-database version of a packaged template
    ini = os.path.join(path, "alembic.ini")
    written = [Path(ini).absolute()]
    if options.package:
        written += [Path(path, "__init__.py"), Path(path, "versions", "__init__.py")]
    # migrepo's own templates: Alembic's closing "edit the connection settings in
    # alembic.ini" is wrong for them, so it gives way to an accurate line.
    ours = template_directory is None
    initial = InitConfig(template_directory=template_directory, written=written if ours else ())
    initial.set_main_option("script_location", path.replace("%", "%%"))
    initial.config_file_name = ini
    config = state().migrate.call_configure_callbacks(initial)
    # init writes files only: Alembic's command reads no ScriptDirectory.
    command.init(config, path, template=template, package=options.package)
    from migrepo.store import heads_file as _integrity

    _integrity.write(path, [])
    if ours:
        from alembic.util import msg

        msg(
            "The database URL comes from the app (SQLALCHEMY_DATABASE_URI and "
            f"SQLALCHEMY_BINDS); edit {Path(ini).absolute()} for Alembic's other settings "
            "and logging."
        )
    return path


def _check_parents_are_directories(path: str) -> None:
    """os.makedirs would fail with a bare NotADirectoryError."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise RepositoryError(
            f"cannot create migrations directory {path!r}: {parent!r} is not a directory; "
            "pass `-d DIRECTORY` to create it elsewhere"
        )
