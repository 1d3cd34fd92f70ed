"""Every place migrepo depends on Alembic beyond its documented API.

Each helper says what it relies on, why there is no public way, and which
Alembic versions it was checked against. The supported range is declared in
``pyproject.toml`` and tested at both ends by ``make test``: the lowest
versions come from ``ci/lowest.txt``.

It imports Alembic, so only code that already runs Alembic imports it (the
engine, the reader's functions, migrepo's Config): importing ``migrepo``
never does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import alembic
from alembic.script import Script
from alembic.script.revision import RevisionMap

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    _S = TypeVar("_S", bound=ScriptDirectory)


def _version(text: str) -> tuple[int, ...]:
    """The numeric release of a version string.

    >>> _version("1.13.0")
    (1, 13, 0)
    >>> _version("1.16.0rc1")
    (1, 16, 0)
    """
    leading = (re.match(r"\d+", part) for part in text.split(".")[:3])
    return tuple(int(match.group()) if match else 0 for match in leading)


ALEMBIC = _version(alembic.__version__)

# Alembic 1.16 moved option parsing onto Config (get_version_locations_list,
# get_alembic_boolean_option, pyproject.toml support), renamed the separator
# option version_path_separator to path_separator, and made ScriptDirectory
# and Script use pathlib paths rather than strings.
CONFIG_OPTION_API = ALEMBIC >= (1, 16)
# The option migrepo's Config answers with path_separator's value when it is
# not set, so that the alembic.ini migrepo writes reads the same before 1.16.
# From 1.16 nothing asks for it unless path_separator is missing.
LEGACY_SEPARATOR_OPTION = None if CONFIG_OPTION_API else "version_path_separator"
# From 1.18 generate_revision creates the directory a new file goes in; before,
# a versions directory git removed (it held no tracked file) made it fail.
CREATES_REVISION_DIRECTORY = ALEMBIC >= (1, 18)


def version_locations_list(config: Config) -> list[str] | None:
    """The ``version_locations`` of ``config`` as Alembic splits them (public on every version)."""
    if CONFIG_OPTION_API:
        return config.get_version_locations_list()
    return _script_directory(config).version_locations


def recursive_version_locations(config: Config) -> bool:
    """Whether ``config`` asks Alembic to look for revision files in subdirectories."""
    if CONFIG_OPTION_API:
        return config.get_alembic_boolean_option("recursive_version_locations")
    return bool(_script_directory(config).recursive_version_locations)


def ensure_versions_directory(script: ScriptDirectory, version_path: object) -> None:
    """Before 1.18, create a missing default versions directory as 1.18 does.

    Same message as Alembic's; only the default location, the one a
    checkout can remove. A configured ``version_locations`` is created by
    Alembic itself on every supported version.
    """
    if CREATES_REVISION_DIRECTORY or version_path is not None or script.version_locations:
        return
    from alembic.util import status

    path = Path(script.dir, "versions").absolute()
    if not path.exists():
        with status(f"Creating directory {path}", **script.messaging_opts):
            os.makedirs(path)


def _script_directory(config: Config) -> ScriptDirectory:
    # Before 1.16 only ScriptDirectory.from_config parses these options; its
    # attributes are public and building it reads no revision file (it does
    # prepend prepend_sys_path to sys.path, as every Alembic command does).
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config)


def as_subclass(script: ScriptDirectory, cls: type[_S]) -> _S:
    """``script``, a ScriptDirectory Alembic configured, as an instance of ``cls``.

    ``ScriptDirectory.from_config`` builds its class by name, not ``cls``, so
    a subclass takes over the instance state it set up. That state is plain
    instance attributes on every supported version.
    """
    adopted = cls.__new__(cls)
    adopted.__dict__.update(script.__dict__)
    return adopted


def new_script(module: ModuleType | Any, revision: str, path: Path) -> Script:
    """A Script for a revision module, as Alembic's loader would build it.

    The constructor is not documented but takes the same three arguments on
    every supported version; before 1.16 Alembic's code expects ``path`` as a
    string.
    """
    return Script(module, revision, path if CONFIG_OPTION_API else str(path))


def load_script(script: ScriptDirectory, path: Path) -> Script | None:
    """Load one revision file exactly as Alembic does, errors and all.

    Private: ``Script._from_path`` is the one place Alembic defines how a file
    becomes a Script (the legacy file-name rule, sourceless files, its error
    messages), and there is no public way to load a single file. Same
    signature from 1.13 to 1.20; it takes a string before 1.16.
    """
    return Script._from_path(script, path if CONFIG_OPTION_API else str(path))


class LinearRevisionMap(RevisionMap):
    """Alembic's RevisionMap, with a linear-time ``_filter_into_branch_heads``.

    Alembic drops each target that has a descendant among the targets by
    walking every target's descendants: quadratic, about 8 s for
    ``flask db current`` at 5,000 revisions. One memoised walk down the
    ``nextrev`` links gives the same set.

    Private: ``_filter_into_branch_heads`` is where Alembic does this, and
    there is no public hook; it has had this signature, and ``_revision_map``
    its meaning, from 1.13 to 1.20. Should a later Alembic stop calling it,
    commands only get slower. ``tests/test_index.py`` checks the answer
    against Alembic's own for random graphs.
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
