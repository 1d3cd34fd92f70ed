"""Alembic's ScriptDirectory, fed from migrepo's revision index.

Alembic executes every revision file to build its revision map: about
0.2 ms a file, on every command. :class:`IndexedScriptDirectory` builds the
same map from :mod:`migrepo.store.reader`'s index, with each revision's module
standing in as a :class:`LazyModule` that imports the real file only when
its code is needed (its ``upgrade()`` or ``downgrade()`` is about to run).
Everything else is Alembic's own code.
"""

from __future__ import annotations

import importlib.machinery
import os
from collections.abc import Iterator
from contextlib import suppress
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from alembic.script import Script, ScriptDirectory

from migrepo._compat import (
    LinearRevisionMap,
    as_subclass,
    ensure_versions_directory,
    load_script,
    new_script,
)
from migrepo.store.blob import blob_hash
from migrepo.store.files import atomic_write
from migrepo.store.reader import list_files, read_indexed, resolve_locations

if TYPE_CHECKING:
    from alembic.config import Config


class LazyModule:
    """Stands in for a revision module: what it declares now, the rest on first use.

    ``values`` come from the reader, which knows every name the file binds:
    ``branch_labels`` and ``depends_on`` missing from them are absent from
    the file, so they read as None (Alembic's default) without importing it.

    The real module is executed from bytes read once, and those bytes are
    kept: the ledger hashes the code that ran, not the file as it is later.
    """

    def __init__(self, path: Path, values: dict[str, Any], blob: str | None = None) -> None:
        self.__dict__.update(values)
        for name in ("branch_labels", "depends_on"):
            self.__dict__.setdefault(name, None)
        self.__dict__["_migrepo_path"] = path
        self.__dict__["_migrepo_module"] = None
        self.__dict__["_migrepo_blob"] = blob
        self.__dict__["_migrepo_source"] = None

    def __getattr__(self, name: str) -> Any:
        # Alembic probes for this marker of sourceless files with hasattr();
        # answering without importing keeps `history` from loading every file.
        if name.startswith("_alembic"):
            raise AttributeError(name)
        return getattr(self._load(), name)

    def migrepo_content(self) -> tuple[str | None, bytes | None]:
        """The blob hash and bytes of the code that ran.

        Before the module was loaded (a ``stamp`` runs no code), the hash the
        index read and no bytes.
        """
        return self.__dict__["_migrepo_blob"], self.__dict__["_migrepo_source"]

    def _load(self) -> ModuleType:
        module: ModuleType | None = self.__dict__["_migrepo_module"]
        if module is None:
            path: Path = self.__dict__["_migrepo_path"]
            data = path.read_bytes()
            module = _execute(path, data)
            self.__dict__["_migrepo_module"] = module
            self.__dict__["_migrepo_source"] = data
            self.__dict__["_migrepo_blob"] = blob_hash(data)
        return module


def _execute(path: Path, data: bytes) -> ModuleType:
    """Run ``data``, read from ``path``, as a module: as Alembic's ``load_python_file`` does
    (same module name, not in ``sys.modules``), but from the bytes already read, so
    the code that runs is exactly the code that is hashed."""
    import importlib.machinery
    import importlib.util
    import re

    name = re.sub(r"\W", "_", path.name)
    loader = _BytesLoader(name, str(path), data)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class _BytesLoader(importlib.machinery.SourceFileLoader):
    """A source loader that runs the given bytes instead of reading the file again.

    Its bytecode cache is keyed on those bytes: a checked hash-based ``.pyc``
    (PEP 552), which Python's own importer also validates against the source.
    A ``.pyc`` of other bytes is never used, so the code that runs is the code
    that was hashed, even if the file changes meanwhile.
    """

    def __init__(self, fullname: str, path: str, data: bytes) -> None:
        super().__init__(fullname, path)
        self._data = data

    def get_data(self, path: str) -> bytes:
        return self._data if path == self.path else super().get_data(path)

    def get_code(self, fullname: str | None = None) -> Any:
        import marshal
        import sys
        from importlib.util import MAGIC_NUMBER, cache_from_source, source_hash

        key = source_hash(self._data)
        cached: str | None = None
        pyc = b""
        try:
            cached = cache_from_source(self.path)
            with open(cached, "rb") as stream:
                pyc = stream.read()
        except (NotImplementedError, ValueError):
            cached = None  # no bytecode cache on this interpreter
        except OSError:
            pass  # none written yet
        if pyc[:4] == MAGIC_NUMBER and pyc[4:8] == _CHECKED_HASH and pyc[8:16] == key:
            try:
                return marshal.loads(pyc[16:])
            except (EOFError, ValueError, TypeError):
                pass  # a damaged cache: compile instead
        code = compile(self._data, self.path, "exec", dont_inherit=True)
        if cached is not None and not sys.dont_write_bytecode:
            with suppress(OSError):  # a read-only checkout: no bytecode cache, as Python does
                Path(cached).parent.mkdir(exist_ok=True)
                atomic_write(cached, MAGIC_NUMBER + _CHECKED_HASH + key + marshal.dumps(code),
                             durable=False)
        return code


# PEP 552 flags: hash-based, checked against the source on every import.
_CHECKED_HASH = (0b11).to_bytes(4, "little")


class IndexedScriptDirectory(ScriptDirectory):
    """Alembic's ScriptDirectory with its revision map built from the index.

    Its public ``revision_map`` comes from the index: no revision module runs
    until a migration step needs its code. Sourceless directories (``.pyc``
    only) keep Alembic's own loader. A revision file that fails to be written
    whole is removed.
    """

    @classmethod
    def from_config(cls, config: Config) -> ScriptDirectory:
        script = as_subclass(ScriptDirectory.from_config(config), cls)
        if not script.sourceless:
            script.revision_map = LinearRevisionMap(partial(indexed_scripts, script))
        return script

    def get_all_current(self, id_: tuple[str, ...]) -> set[Script]:
        """Alembic's answer, iterated in file order, as ``flask db heads`` lists heads.

        Alembic returns a plain set, so ``flask db current`` printed several
        heads in an order that changed from run to run.
        """
        found = super().get_all_current(id_)
        return _InOrder(found, sorted(found, key=lambda script: script.path))

    def generate_revision(self, *args: Any, **kw: Any) -> Script | None:
        """Alembic's ``generate_revision``; when it fails, the new file is removed.

        Alembic renders the template in memory and then writes the file. If
        that write stops part way (a full disk, a file size limit, an
        interrupt) or a later step of the call fails, the versions directory
        is left as it was: a whole new revision file or none. A post-write
        hook that fails runs on a whole file, which stays (see
        :mod:`migrepo.engine.hooks`). This overrides the public method and
        calls it unchanged, so Alembic's output is kept.
        """
        ensure_versions_directory(self, kw.get("version_path"))
        before = self._files()
        try:
            return super().generate_revision(*args, **kw)
        except BaseException as exc:
            if not _in_write_hooks(exc):
                for path in self._files() - before:
                    with suppress(FileNotFoundError):
                        os.unlink(path)
            raise

    def _files(self) -> set[str]:
        """Every file under the version locations (a file template may name subdirectories)."""
        found: set[str] = set()
        pending = [str(path) for path in resolve_locations(self.version_locations, self.dir)]
        while pending:
            try:
                scan = os.scandir(pending.pop())
            except (FileNotFoundError, NotADirectoryError):
                continue
            with scan:
                for entry in scan:
                    if not entry.is_dir(follow_symlinks=False):
                        found.add(entry.path)
                    elif entry.name != "__pycache__":
                        pending.append(entry.path)
        return found


def _in_write_hooks(exc: BaseException) -> bool:
    from alembic.script import write_hooks

    from migrepo._origin import frames

    return any(frame.f_code.co_filename == write_hooks.__file__ for frame, _ in frames(exc))


class _InOrder(set[Any]):
    """A set that iterates in a given order (what Alembic's callers loop over)."""

    def __init__(self, items: set[Any], order: list[Any]) -> None:
        super().__init__(items)
        self._order = order

    def __iter__(self) -> Iterator[Any]:
        return iter([item for item in self._order if item in self])


def indexed_scripts(script: ScriptDirectory) -> Iterator[Script]:
    """The Script objects of ``script``'s revision files, from the index."""
    locations = resolve_locations(script.version_locations, script.dir)
    paths = list_files(locations, recursive=script.recursive_version_locations)
    for found in read_indexed(paths, Path(script.dir)):
        if found.record is None:
            # A file the index cannot read is loaded as Alembic loads it, so that
            # the error (or the legacy filename rule) is Alembic's own.
            loaded = load_script(script, found.path)
            if loaded is not None:
                yield loaded
            continue
        module = LazyModule(found.path, found.values, found.blob)
        yield new_script(module, found.record.revision, found.path)
