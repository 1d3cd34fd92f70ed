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
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap

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


class LinearRevisionMap(RevisionMap):
    """Alembic's RevisionMap, with a linear-time ``_filter_into_branch_heads``.

    Alembic drops each target that has a descendant among the targets by
    walking every target's descendants: quadratic, about 8 s for
    ``flask db current`` at 5,000 revisions. One memoised walk down the
    ``nextrev`` links gives the same set. The method is private, but it is
    where Alembic does this, and there is no public hook.
    """

    def _filter_into_branch_heads(self, targets: Any) -> set[Any]:
        targets = set(targets)
        by_id = self._revision_map
        below: dict[str, bool] = {}  # revision id -> a target lies strictly below it

        def target_below(revision: str) -> bool:
            stack = [revision]
            while stack:
                current = stack[-1]
                if current in below:
                    stack.pop()
                    continue
                children = by_id[current].nextrev  # type: ignore[union-attr]
                pending = [child for child in children if child not in below]
                if pending:
                    stack.extend(pending)
                    continue
                below[current] = any(by_id[c] in targets or below[c] for c in children)
                stack.pop()
            return below[revision]

        return {rev for rev in targets if not target_below(rev.revision)}


class IndexedScriptDirectory(ScriptDirectory):
    """Alembic's ScriptDirectory with its revision map built from the index.

    Its public ``revision_map`` comes from the index: no revision module runs
    until a migration step needs its code. Sourceless directories (``.pyc``
    only) keep Alembic's own loader. New revision files are written
    atomically.
    """

    @classmethod
    def from_config(cls, config: Config) -> ScriptDirectory:
        # Alembic's from_config builds a plain ScriptDirectory (it calls the
        # class by name, not cls): take over the state it configured.
        script = cls.__new__(cls)
        script.__dict__.update(ScriptDirectory.from_config(config).__dict__)
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

    def _generate_template(self, src: Path, dest: Path, **kw: Any) -> None:
        """Write a new revision file atomically: render beside it, then rename.

        Alembic renders straight into the destination, so a crash could leave
        half a revision file behind; this private method is the one place
        Alembic writes generated files, and it offers no public hook.
        """
        from alembic.util import status, template_to_file

        temporary = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with status(f"Generating {dest.absolute()}", **self.messaging_opts):
            try:
                template_to_file(src, temporary, self.output_encoding, **kw)
                os.replace(temporary, dest)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise


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
            # the error (or the legacy filename rule) is Alembic's own. Private,
            # but it is the one place Alembic defines how a file becomes a Script.
            loaded = Script._from_path(script, found.path)
            if loaded is not None:
                yield loaded
            continue
        module = LazyModule(found.path, found.values)
        yield Script(module, found.record.revision, found.path)  # type: ignore[arg-type]


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
