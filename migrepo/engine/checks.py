"""Checks of what the user typed, before anything runs: each failure is one clear line.

Alembic accepts some values that break later commands (a revision id with a
path in it, a message that ends a docstring early); these catch them first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from migrepo.errors import RepositoryError, UnknownRevision, UsageError

if TYPE_CHECKING:
    from migrepo._config import Config


# "base-1" walks down from base, which Alembic wraps round to the heads: a silent no-op.
_BELOW_BASE = re.compile(r"(?:.+@)?base-\d+")

# What a revision id may be: it names a file and fills a VARCHAR(32) column.
_REV_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,31}")


def check_rev_id(rev_id: str | None) -> None:
    if rev_id is not None and not _REV_ID.fullmatch(rev_id):
        raise UsageError(
            f"invalid --rev-id {rev_id!r}: use 1 to 32 letters, digits, '_' or '-', "
            "starting with a letter, digit or '_'"
        )


def check_rev_id_is_new(config: Config, rev_id: str | None) -> None:
    """Alembic would write a second file with that id, or overwrite the first one."""
    from migrepo.store.reader import read_revision_files

    if rev_id is None:
        return
    for found in read_revision_files(config):
        if found.record is not None and found.record.revision == rev_id:
            raise UsageError(
                f"invalid --rev-id {rev_id!r}: {found.path} already has that id; choose another"
            )


def check_target(revision: str | Sequence[str] | None) -> None:
    """Reject a relative target such as ``base-1``: there is nothing below base."""
    if isinstance(revision, str) and _BELOW_BASE.fullmatch(revision):
        raise UsageError(f"invalid revision {revision!r}: it goes below base")


def revision_message(config: Config, message: str | None) -> str | None:
    """``message`` as Alembic must render it, with the file name migrepo wants.

    The message is escaped for the docstring it lands in (see
    :func:`migrepo._text.docstring_text`). The file name's slug keeps ASCII
    words only; when that differs from the slug Alembic would make, the slug
    is written into this command's ``file_template``, Alembic's public option
    for file names, so Alembic writes the file under that name directly.
    """
    from migrepo._text import docstring_text, slug

    if message is None:
        return None
    escaped = docstring_text(message)
    get = getattr(config, "get_alembic_option", config.get_main_option)  # Alembic < 1.16
    try:
        length = int(get("truncate_slug_length") or 40)
    except ValueError:
        return escaped  # Alembic reports the bad setting
    wanted = slug(message, length)
    if slug(escaped, length, ascii_only=False) != wanted:
        template = get("file_template") or "%(rev)s_%(slug)s"
        named = template.replace("%(slug)s", wanted)
        config.set_main_option("file_template", named.replace("%", "%%"))
    return escaped


def check_editor(environ: Mapping[str, str] | None = None) -> None:
    """Refuse an ``$EDITOR`` (or ``$VISUAL``) that names no program.

    Alembic runs the editor without a shell, as one program: ``code --wait``
    or ``vim; rm x`` is not split. When neither variable names a file or a
    program on ``PATH``, Alembic silently falls back to sensible-editor,
    nano or vim; migrepo says so instead.
    """
    env = os.environ if environ is None else environ
    chosen = [(name, env[name]) for name in ("EDITOR", "VISUAL") if name in env]
    if not chosen:
        return
    path = env.get("PATH", "").split(os.pathsep)
    for _name, value in chosen:
        if value and (
            os.path.exists(value)
            or (os.sep not in value and any(os.path.exists(os.path.join(d, value)) for d in path))
        ):
            return
    name, value = chosen[0]
    raise UsageError(
        f"${name} is {value!r}, which names no program: set it to the path or name of one "
        "editor, without arguments (it runs without a shell)"
    )


def check_rev_range(rev_range: str | None) -> None:
    """Alembic splits a range on ':' and fails with a traceback on more than one."""
    if rev_range is not None and rev_range.count(":") != 1:
        raise UsageError(f"invalid revision range {rev_range!r}: use START:END, START: or :END")


def check_merge_revisions(revisions: str | Sequence[str] | None) -> None:
    """A merge needs the revisions it joins; without them Alembic writes a second base."""
    names = [revisions] if isinstance(revisions, str) else list(revisions or ())
    if not any(name.strip() for name in names):
        raise UsageError(
            "merge needs the revisions to join: give two or more revision ids, "
            "or `heads` to join every head"
        )


def check_version_locations(config: Config) -> None:
    """A ``version_locations`` that Alembic would misread, silently, as one missing directory.

    Alembic splits the setting on alembic.ini's ``path_separator`` (``os``
    in migrepo's templates: ':' on POSIX, ';' on Windows); a value written
    with spaces is then one directory that does not exist, and every command
    sees an empty graph.
    """
    from migrepo._compat import version_locations_list

    ini = config.config_file_name or "alembic.ini"
    try:
        locations = version_locations_list(config) or []
    except ValueError as exc:  # an unknown path_separator
        raise RepositoryError(f"{ini}: {exc}") from None
    separator = config.get_main_option("path_separator") or config.get_main_option(
        "version_path_separator"
    )
    for location in locations:
        if separator in (None, "space") or not re.search(r"[\s,]", location):
            continue
        from migrepo.store.reader import resolve_locations

        if resolve_locations([location], ".")[0].exists():
            continue
        splits_on = {"os": os.pathsep, "newline": "a new line"}.get(separator, separator)
        raise RepositoryError(
            f"version_locations in {ini} names {location!r}, which does not exist: "
            f"the path_separator = {separator} setting splits it on {splits_on!r}; "
            f"separate the directories with {splits_on!r}"
        )


def check_version_path(config: Config, version_path: str | None) -> None:
    """``--version-path`` must be one of the version locations, as Alembic requires."""
    from pathlib import Path

    from migrepo.store.reader import version_locations

    if version_path is None:
        return
    known = version_locations(config)
    if Path(version_path).absolute() in known:
        return
    listed = ", ".join(map(_shown, known))
    raise UsageError(
        f"invalid --version-path {version_path!r}: it is not one of the version locations "
        f"({listed}); give one of them, or add it to version_locations in "
        f"{config.config_file_name or 'alembic.ini'}"
    )


def _shown(path: os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return os.fspath(path) if relative.startswith("..") else relative


def find_template(template: str) -> tuple[str | None, str]:
    """The folder holding ``template`` (None: migrepo's own) and the template's name.

    A name is a packaged template's or, when no packaged template has that
    name, a folder in the working directory; a path (with a slash) is a folder.
    """
    from migrepo._config import TEMPLATES

    is_path = "/" in template or "\\" in template
    if not is_path and template and (TEMPLATES / template).is_dir():
        return None, template
    folder = template.rstrip("/\\") or template
    if os.path.isdir(folder):
        parent, name = os.path.split(os.path.abspath(folder))
        return parent, name
    if is_path:
        raise UsageError(f"no template directory at {folder!r}")
    raise UsageError(
        f"no template named {template!r}, and no folder of that name in the working "
        "directory: run `flask db list-templates` to see the templates, or give the path "
        "to a template directory"
    )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The longest identifier each dialect accepts.
_MAX_IDENTIFIER = {"postgresql": 63, "mysql": 64, "mariadb": 64}


def check_repository(path: str) -> None:
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


def check_ledger_table(value: object, *, version_table: str, dialect: str | None) -> str:
    """``MIGREPO_LEDGER_TABLE`` if the database can hold it, else a one-line error."""
    fix = "set MIGREPO_LEDGER_TABLE to a plain table name such as 'migrepo_ledger'"
    if not isinstance(value, str) or not value:
        raise UsageError(f"invalid MIGREPO_LEDGER_TABLE {value!r}: {fix}")
    if not _IDENTIFIER.fullmatch(value):
        raise UsageError(
            f"invalid MIGREPO_LEDGER_TABLE {value!r}: use letters, digits and '_', "
            f"starting with a letter or '_'; {fix}"
        )
    if value.lower() == version_table.lower():
        raise UsageError(
            f"invalid MIGREPO_LEDGER_TABLE {value!r}: that is the version table; {fix}"
        )
    limit = _MAX_IDENTIFIER.get(dialect or "")
    if limit is not None and len(value) > limit:
        raise UsageError(
            f"invalid MIGREPO_LEDGER_TABLE {value!r}: {dialect} table names are at most "
            f"{limit} characters; {fix}"
        )
    return value


def match_revision(known: Sequence[str], argument: str) -> str:
    """The revision id ``argument`` names: the id itself, or a prefix of exactly one id."""
    if argument in known:
        return argument
    matches = sorted(rev for rev in known if argument and rev.startswith(argument))
    if not matches:
        raise UnknownRevision(argument)
    if len(matches) > 1:
        raise UsageError(
            f"revision prefix {argument!r} is ambiguous ({', '.join(matches)}): "
            "give more characters"
        )
    return matches[0]
