"""Alembic's ScriptDirectory, fed from migrepo's revision index.

Alembic executes every revision file to build its revision map: about
0.2 ms a file, on every command. :class:`IndexedScriptDirectory` builds the
same map from :mod:`migrepo.store.reader`'s index, with each revision's module
standing in as a :class:`LazyModule` that imports the real file only when
its code is needed (its ``upgrade()`` or ``downgrade()`` is about to run).
Everything else is Alembic's own code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
from migrepo.store.reader import list_files, read_indexed, resolve_locations

if TYPE_CHECKING:
    from alembic.config import Config


class LazyModule:
    """Stands in for a revision module: what it declares now, the rest on first use."""

    def __init__(self, path: Path, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.__dict__["_migrepo_path"] = path
        self.__dict__["_migrepo_module"] = None

    def __getattr__(self, name: str) -> Any:
        # Alembic probes for this marker of sourceless files with hasattr();
        # answering without importing keeps `history` from loading every file.
        if name.startswith("_alembic"):
            raise AttributeError(name)
        return getattr(self._load(), name)

    def _load(self) -> ModuleType:
        from alembic.util import load_python_file

        module: ModuleType | None = self.__dict__["_migrepo_module"]
        if module is None:
            path: Path = self.__dict__["_migrepo_path"]
            module = load_python_file(str(path.parent), path.name)
            self.__dict__["_migrepo_module"] = module
        return module


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
        module = LazyModule(found.path, found.values)
        yield new_script(module, found.record.revision, found.path)


@contextmanager
def indexed_script_directory() -> Iterator[None]:
    """Run Alembic's command functions with :class:`IndexedScriptDirectory`.

    Alembic's ``command`` module builds every ScriptDirectory through the
    name ``ScriptDirectory`` in its own namespace and offers no hook to supply
    another class; this rebinds that one name for the length of one command.
    """
    import alembic.command

    original = alembic.command.ScriptDirectory
    alembic.command.ScriptDirectory = IndexedScriptDirectory  # type: ignore[misc]
    try:
        yield
    finally:
        alembic.command.ScriptDirectory = original  # type: ignore[misc]
