"""The one reader of revision files.

It finds the files Alembic would load, hashes each one as git does (a blob
hash), and reads its revision identifiers without running it: the module is
parsed with :mod:`ast` and only literal assignments are read. A file whose
identifiers are not literals is executed instead, as Alembic would.

Everything that needs the revision graph (``history --graph``, ``merge
heads``, ``verify``) reads files through here, never through a second path.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrepo.errors import RevisionFileError
from migrepo.graph.records import RevisionRecord

if TYPE_CHECKING:
    from alembic.config import Config

# The names Alembic reads from a revision module.
_FIELDS = ("revision", "down_revision", "branch_labels", "depends_on")
# Alembic's own rule for which files in a version directory are revisions.
_REVISION_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")


@dataclass(frozen=True, slots=True)
class RevisionFile:
    """A revision file as read from disk: its content address and its record."""

    path: Path
    blob: str
    record: RevisionRecord | None
    error: RevisionFileError | None = None


def blob_hash(data: bytes) -> str:
    """The git blob hash of ``data``: what ``git hash-object`` prints.

    >>> blob_hash(b"hello\\n")
    'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def version_locations(config: Config) -> list[Path]:
    """The version directories of a migrations directory, as Alembic resolves them."""
    from alembic.util import coerce_resource_to_filename

    locations = config.get_version_locations_list()
    if locations:
        return [Path(coerce_resource_to_filename(loc)).absolute() for loc in locations]
    script_location = config.get_main_option("script_location") or "migrations"
    return [Path(coerce_resource_to_filename(script_location), "versions").absolute()]


def list_revision_files(config: Config) -> list[Path]:
    """Every revision file, in Alembic's order: directory by directory, names sorted."""
    recursive = config.get_alembic_boolean_option("recursive_version_locations")
    found: list[Path] = []
    seen: set[Path] = set()
    for location in version_locations(config):
        if not location.is_dir():
            continue
        for root, dirs, files in os.walk(location):
            dirs.sort()
            if Path(root).name == "__pycache__":
                continue
            for name in sorted(files):
                path = Path(root, name).resolve()
                if _REVISION_FILE.match(name) and path not in seen:
                    seen.add(path)
                    found.append(path)
            if not recursive:
                break
    return found


def read_revision_files(config: Config, *, execute: bool = False) -> list[RevisionFile]:
    """Read every revision file; ``execute=True`` runs each one as Alembic would."""
    return [read_revision_file(path, execute=execute) for path in list_revision_files(config)]


def read_revision_file(path: Path, *, execute: bool = False) -> RevisionFile:
    data = path.read_bytes()
    blob = blob_hash(data)
    try:
        values = None if execute else _literal_values(path, data)
        record = _record(path, values if values is not None else _executed_values(path))
    except RevisionFileError as exc:
        return RevisionFile(path, blob, None, exc)
    return RevisionFile(path, blob, record)


def _literal_values(path: Path, data: bytes) -> dict[str, Any] | None:
    """The identifiers from the parsed module, or None if one is not a plain literal."""
    try:
        tree = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        raise RevisionFileError(str(path), exc.lineno, f"syntax error: {exc.msg}") from exc
    values: dict[str, Any] = {"__doc__": ast.get_docstring(tree, clean=False)}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name) and t.id in _FIELDS]
        if not names:
            continue
        if len(targets) != 1 or names[0] in values:
            return None  # chained or repeated assignment: let Python decide
        try:
            values[names[0]] = ast.literal_eval(value)
        except ValueError:
            return None
    if any(isinstance(n, ast.ImportFrom | ast.Import) and _star(n) for n in tree.body):
        return None
    return values


def _star(node: ast.Import | ast.ImportFrom) -> bool:
    return any(alias.name == "*" for alias in node.names)


def _executed_values(path: Path) -> dict[str, Any]:
    from alembic.util import load_python_file

    try:
        module = load_python_file(str(path.parent), path.name)
    except SyntaxError as exc:
        raise RevisionFileError(str(path), exc.lineno, f"syntax error: {exc.msg}") from exc
    except Exception as exc:
        line = next(
            (f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
             if Path(f.filename).resolve() == path.resolve()),
            None,
        )
        reason = f"{type(exc).__name__}: {exc}"
        raise RevisionFileError(str(path), line, reason) from exc
    values = {name: getattr(module, name) for name in _FIELDS if hasattr(module, name)}
    values["__doc__"] = module.__doc__
    return values


def _record(path: Path, values: dict[str, Any]) -> RevisionRecord:
    revision = values.get("revision")
    if not isinstance(revision, str) or not revision:
        raise RevisionFileError(
            str(path), None, "no `revision = '...'` assignment; every revision file needs one"
        )
    doc = (values.get("__doc__") or "").strip()
    return RevisionRecord(
        revision=revision,
        down_revisions=_tuple(values.get("down_revision"), path, "down_revision"),
        dependencies=_tuple(values.get("depends_on"), path, "depends_on"),
        branch_labels=_tuple(values.get("branch_labels"), path, "branch_labels"),
        message=re.split("\n\n", doc)[0],
        path=str(path),
    )


def _tuple(value: Any, path: Path, name: str) -> tuple[str, ...]:
    if value is None or value == ():
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RevisionFileError(str(path), None, f"{name} must be a string, a tuple of them, or None")
