"""The one reader of revision files.

It finds the files Alembic would load, hashes each one as git does (a blob
hash), and reads its revision identifiers without running it: the module is
parsed with :mod:`ast` and only plain top-level literal assignments are read.
A file that binds one of those names in any other way (under an ``if``, by
tuple or augmented assignment, an import, a ``global``, ``del``, ...) or
could set it dynamically (``globals()``, ``exec``, ...) is executed instead,
as Alembic would, so the graph is always Alembic's. A name the file never
binds is known to be absent from the source alone.

Everything that needs the revision graph (``history --graph``, ``merge
heads``, ``verify``) reads files through here, never through a second path.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrepo.errors import RevisionFileError
from migrepo.graph.records import RevisionRecord
from migrepo.store.blob import blob_hash

__all__ = ["RevisionFile", "blob_hash", "read_revision_file", "read_revision_files"]

if TYPE_CHECKING:
    from alembic.config import Config

    from migrepo._best_effort import BestEffort

# The names Alembic reads from a revision module.
_FIELDS = ("revision", "down_revision", "branch_labels", "depends_on")
_NAMES = frozenset((*_FIELDS, "__doc__"))
# Names through which a module can set its globals without binding them.
_DYNAMIC = frozenset(("globals", "vars", "locals", "exec", "eval", "setattr", "__import__"))
# Alembic's own rule for which files in a version directory are revisions.
_REVISION_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")


@dataclass(frozen=True, slots=True)
class RevisionFile:
    """A revision file as read from disk: its content address and its record.

    ``values`` holds what the module declares, as Alembic would read it:
    ``revision``, ``down_revision``, ``branch_labels``, ``depends_on`` and
    ``__doc__``.
    """

    path: Path
    blob: str
    record: RevisionRecord | None
    error: RevisionFileError | None = None
    values: dict[str, Any] = field(default_factory=dict)


def version_locations(config: Config) -> list[Path]:
    """The version directories of a migrations directory, as Alembic resolves them."""
    from migrepo._compat import version_locations_list

    return resolve_locations(version_locations_list(config), migrations_directory(config))


def resolve_locations(
    locations: Sequence[str] | None, migrations: str | os.PathLike[str]
) -> list[Path]:
    """The configured version locations, or ``<migrations>/versions``, made absolute."""
    from alembic.util import coerce_resource_to_filename

    if locations:
        return [Path(coerce_resource_to_filename(loc)).absolute() for loc in locations]
    return [Path(migrations, "versions").absolute()]


def list_revision_files(config: Config) -> list[Path]:
    """Every revision file, in Alembic's order: directory by directory, names sorted."""
    from migrepo._compat import recursive_version_locations

    return list_files(version_locations(config), recursive=recursive_version_locations(config))


def list_files(locations: list[Path], *, recursive: bool) -> list[Path]:
    """The revision files under ``locations``, each once, as Alembic lists them.

    Each directory is resolved once; a file that is itself a symlink is
    resolved too, so a file reachable twice is still listed once.
    """
    found: list[Path] = []
    seen: set[str] = set()
    pending = [os.path.realpath(location) for location in locations if location.is_dir()]
    while pending:
        directory = pending.pop(0)
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        subdirectories = []
        for entry in entries:
            if entry.is_dir():
                if entry.name != "__pycache__":
                    subdirectories.append(entry.path)
            elif _REVISION_FILE.match(entry.name):
                path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                if path not in seen:
                    seen.add(path)
                    found.append(Path(path))
        if recursive:
            pending[:0] = subdirectories
    return found


def read_revision_files(config: Config, *, execute: bool = False) -> list[RevisionFile]:
    """Read every revision file; ``execute=True`` runs each one as Alembic would.

    Without ``execute``, files go through the revision index
    (:mod:`migrepo.store.index`): one whose stat or content is known is not parsed.
    """
    paths = list_revision_files(config)
    if execute:
        return [read_revision_file(path, execute=True) for path in paths]
    return read_indexed(paths, migrations_directory(config))


def migrations_directory(config: Config) -> Path:
    from alembic.util import coerce_resource_to_filename

    return Path(coerce_resource_to_filename(config.get_main_option("script_location") or "."))


def read_indexed(
    paths: list[Path], migrations: Path, effort: BestEffort | None = None
) -> list[RevisionFile]:
    """Read ``paths`` through the revision index of ``migrations``.

    The index is a cache: one that gives two files the same revision id is
    in doubt, and every file is read again from disk to decide. Saving it
    is best effort (one warning through ``effort``).
    """
    from migrepo.store.index import Index

    index = Index.load(migrations)
    files = [_read_through(index, path) for path in paths]
    ids = [found.record.revision for found in files if found.record is not None]
    if len(ids) != len(set(ids)) and (index.stats or index.records):
        index = Index(index.path, dirty=True)
        files = [_read_through(index, path) for path in paths]
    index.save({str(path) for path in paths}, effort)
    return files


def _read_through(index: Any, path: Path) -> RevisionFile:
    name = str(path)
    stat = path.stat()
    blob = index.blob_for(name, stat)
    if blob is not None:
        values = _from_json(index.records[blob])
        return RevisionFile(path, blob, _record(path, values), values=values)
    data = path.read_bytes()
    blob = blob_hash(data)
    known = index.records.get(blob)
    if known is not None:
        values = _from_json(known)
    else:
        try:
            parsed = _literal_values(path, data)
        except RevisionFileError as exc:
            return RevisionFile(path, blob, None, exc)
        if parsed is None:  # identifiers that are not literals: run it, and do not cache
            return read_revision_file(path, execute=True, data=data)
        values = parsed
    try:
        record = _record(path, values)
    except RevisionFileError as exc:
        return RevisionFile(path, blob, None, exc)
    index.remember(name, stat, blob, values)
    return RevisionFile(path, blob, record, values=values)


def _from_json(values: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples into lists; give Alembic the shapes a module would have."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def read_revision_file(
    path: Path, *, execute: bool = False, data: bytes | None = None
) -> RevisionFile:
    data = path.read_bytes() if data is None else data
    blob = blob_hash(data)
    try:
        values = None if execute else _literal_values(path, data)
        if values is None:
            values = _executed_values(path)
        record = _record(path, values)
    except RevisionFileError as exc:
        return RevisionFile(path, blob, None, exc)
    return RevisionFile(path, blob, record, values=values)


def parse_source(path: str | os.PathLike[str], data: bytes) -> ast.Module:
    """The module ``data`` as :mod:`ast` parses it; a syntax error names the file and line."""
    try:
        return ast.parse(data, filename=os.fspath(path))
    except SyntaxError as exc:
        raise RevisionFileError(os.fspath(path), exc.lineno, f"syntax error: {exc.msg}") from exc


def assigned_value(tree: ast.Module, name: str) -> ast.expr | None:
    """The value node of the one top-level assignment to ``name``.

    Plain (``name = ...``) and annotated (``name: T = ...``) assignments
    count. None when there is none, or when the name is assigned more than
    once or in a chained assignment: then only running the module tells.
    Its ``lineno``/``col_offset`` (UTF-8 byte columns) locate it in the source.

    >>> tree = ast.parse("revision = 'b2'\\ndown_revision: str = 'a1'\\n")
    >>> ast.literal_eval(assigned_value(tree, "down_revision"))
    'a1'
    """
    found: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
            continue
        if found is not None or len(targets) != 1:
            return None
        found = value
    return found


# ``revision = "abc"`` at the start of a line: for a file that does not even parse.
_DECLARED = re.compile(r"""^revision\s*(?::[^=\n]*)?=\s*(?:"([^"\n]+)"|'([^'\n]+)')""", re.M)


def declared_revision(path: Path) -> str | None:
    """The revision id a file declares, read from its source alone; None if none is plain.

    For a file that cannot be run, or does not even parse, this still names
    the revision it was meant to be, so that its children are not taken for
    orphans.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        revision = (_literal_values(path, data) or {}).get("revision")
    except RevisionFileError:  # a syntax error: the first plain assignment will do
        revision = None
    if isinstance(revision, str) and revision:
        return revision
    found = _DECLARED.search(data.decode("utf-8", "replace"))
    return (found.group(1) or found.group(2)) if found else None


def _literal_values(path: Path, data: bytes) -> dict[str, Any] | None:
    """The names the parsed module declares, or None when only running it can tell.

    Each of Alembic's names must be bound at most once, by a plain top-level
    ``name = <literal>`` (or ``name: T = <literal>``). Any other binding of
    one of them, anywhere in the module's scope, or a way to set globals
    dynamically, makes the answer None: the caller runs the file, as
    Alembic does. A name never bound is left out: the module lacks it.
    """
    try:
        tree = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        raise RevisionFileError(str(path), exc.lineno, f"syntax error: {exc.msg}") from exc
    values: dict[str, Any] = {"__doc__": ast.get_docstring(tree, clean=False)}
    understood: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id not in _FIELDS:
            continue
        if target.id in values:
            return None  # repeated: let Python decide
        try:
            values[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        understood.add(id(target))
    if _bound_otherwise(tree, understood):
        return None
    return values


def _bound_otherwise(tree: ast.Module, understood: set[int]) -> bool:
    """Whether the module could bind one of Alembic's names other than as ``understood``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal) and _NAMES.intersection(node.names):
            return True
        if isinstance(node, ast.NamedExpr) and node.target.id in _NAMES:
            return True  # binds in the enclosing scope, even from a comprehension
        if isinstance(node, ast.alias) and node.name == "*":
            return True
        if isinstance(node, ast.Name) and node.id in _DYNAMIC:
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("modules", "__dict__"):
            return True  # sys.modules[__name__], module.__dict__
    # The module's own scope: compound statements, but not function or class bodies.
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name in _NAMES:
                return True
            pending.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp):
            continue
        if isinstance(node, ast.GeneratorExp):
            continue
        if _binds(node) and id(node) not in understood:
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _binds(node: ast.AST) -> bool:
    """Whether ``node`` binds (or deletes) one of Alembic's names."""
    if isinstance(node, ast.Name):
        return node.id in _NAMES and isinstance(node.ctx, ast.Store | ast.Del)
    if isinstance(node, ast.alias):
        return (node.asname or node.name.partition(".")[0]) in _NAMES
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return node.name in _NAMES
    if isinstance(node, ast.MatchMapping):
        return node.rest in _NAMES
    return False


def _executed_values(path: Path) -> dict[str, Any]:
    from alembic.util import load_python_file

    try:
        module = load_python_file(str(path.parent), path.name)
    except SyntaxError as exc:
        raise RevisionFileError(str(path), exc.lineno, f"syntax error: {exc.msg}") from exc
    except Exception as exc:
        from migrepo._origin import line_in

        line = line_in(exc, path)
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
    # Every command that loads the graph through Alembic fails on these, so the reader does too.
    from migrepo._compat import revision_illegal_chars

    illegal = sorted(set(revision).intersection(revision_illegal_chars()))
    if illegal:
        raise RevisionFileError(
            str(path),
            None,
            f"revision id {revision!r} has {' '.join(repr(c) for c in illegal)}, which Alembic "
            "does not allow in revision ids; rename the revision",
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
