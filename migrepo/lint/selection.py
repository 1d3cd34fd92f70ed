"""Which revisions a command looks at, and the offline steps that run them.

* ``flask db sql REV`` runs one revision (``A:B``: a range, as ``upgrade --sql``);
* ``flask db lint`` runs the revisions not yet applied to the database, the
  named ones, or those whose files the branch adds since ``git merge-base REF
  HEAD`` (``--since REF``).

Reading the database is read-only: Alembic's ``get_current_heads()`` on a
context that never creates the version table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrepo.errors import GitError, UsageError

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from migrepo.engine.run import Run


@dataclass
class Steps:
    """What to hand to EnvironmentContext for an offline run."""

    fn: Callable[[Any, Any], Any]
    scripts: list[Script]
    starting_rev: Any = None
    destination_rev: Any = None


def in_order(script: ScriptDirectory, chosen: Sequence[Script]) -> list[Script]:
    """``chosen``, each once, parents before children."""
    wanted = {s.revision for s in chosen}
    ordered = [s for s in reversed(list(script.walk_revisions())) if s.revision in wanted]
    return ordered


def each_once(
    script: ScriptDirectory, chosen: Sequence[Script], direction: str, *, ordered: bool = False
) -> Steps:
    """One step per chosen revision, parents first (children first downwards).

    ``ordered``: ``chosen`` is already parents first (as every selection here returns it).
    """
    from alembic.runtime.migration import MigrationStep

    ordered_scripts = list(chosen) if ordered else in_order(script, chosen)
    if direction == "downgrade":
        ordered_scripts.reverse()
    make = (
        MigrationStep.upgrade_from_script
        if direction == "upgrade"
        else MigrationStep.downgrade_from_script
    )
    steps = [make(script.revision_map, s) for s in ordered_scripts]
    return Steps(lambda heads, context: steps, ordered_scripts)


def for_sql(script: ScriptDirectory, revision: str, direction: str) -> Steps:
    """The steps of ``flask db sql REV`` (one revision) or ``A:B`` (a range)."""
    if ":" in revision:
        start, end = revision.split(":", 1)
        from migrepo import _compat

        revs = _compat.upgrade_steps if direction == "upgrade" else _compat.downgrade_steps
        steps = Steps(lambda heads, context: revs(script, end, heads), [], start or None, end)
        steps.scripts = list(script.walk_revisions())
        return steps
    from alembic.util import to_tuple

    found = one(script, revision)
    steps = each_once(script, [found], direction)
    parents = to_tuple(found.down_revision, default=())
    if direction == "upgrade":
        steps.starting_rev = parents or None
        steps.destination_rev = found.revision
    else:
        steps.starting_rev = found.revision
        steps.destination_rev = parents[0] if len(parents) == 1 else "base"
    return steps


def one(script: ScriptDirectory, revision: str) -> Script:
    from alembic.util import CommandError

    try:
        found = script.get_revision(revision)
    except CommandError as exc:
        raise UsageError(f"unknown revision {revision!r}: {exc}") from exc
    if found is None:
        raise UsageError(f"{revision!r} is not a revision: name one, as in `flask db history`")
    return found


def named(script: ScriptDirectory, revisions: Sequence[str]) -> list[Script]:
    return in_order(script, [one(script, r) for r in revisions])


def pending(run: Run) -> list[Script]:
    """The revisions not yet applied to the database, read without writing."""
    script = run.script
    current: list[str] = []

    def read(rev: Any, context: Any) -> list[Any]:
        current.extend(rev)
        return []

    run.run_env(read, dont_mutate=True)
    applied: set[str] = set()
    if current:
        applied = {s.revision for s in script.iterate_revisions(tuple(current), "base")}
    parents_first = reversed(list(script.walk_revisions()))
    return [s for s in parents_first if s.revision not in applied]


def since(run: Run, ref: str) -> list[Script]:
    """The revisions whose files the current branch adds relative to ``merge-base REF HEAD``.

    Files that arrive through a merge count: the diff compares trees.
    """
    import git

    script = run.script
    try:
        repo = git.Repo(run.directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise GitError(
            f"--since needs a git repository, and {run.directory} is in none"
        ) from exc
    try:
        with repo:
            root = repo.working_tree_dir
            base = repo.git.merge_base(ref, "HEAD")
            added = repo.git.diff("--name-only", "--diff-filter=A", "-z", base, "HEAD")
    except git.GitCommandError as exc:
        reason = (exc.stderr or str(exc)).strip().splitlines()
        detail = reason[-1].strip() if reason else "git failed"
        raise GitError(
            f"--since {ref}: cannot find the merge base with HEAD ({detail}); "
            "name a branch or commit, and fetch it first in a shallow CI clone"
        ) from exc
    files = {
        os.path.realpath(os.path.join(str(root), name)) for name in added.split("\0") if name
    }
    chosen = [s for s in script.walk_revisions() if os.path.realpath(s.path) in files]
    return in_order(script, chosen)
