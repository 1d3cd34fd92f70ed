"""``upgrade --plan`` and ``downgrade --plan``: the steps a command would run, changing nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Directory = str | os.PathLike[str] | None
XArgs = str | Sequence[str] | None


@dataclass(frozen=True)
class PlanStep:
    """One step ``upgrade`` or ``downgrade`` would run, in order."""

    direction: str
    revision: str
    down_revisions: tuple[str, ...]
    message: str
    path: str | None
    file_hash: str | None
    database: str = ""


@dataclass(frozen=True)
class Plan:
    direction: str
    target: str
    current: tuple[str, ...]
    steps: tuple[PlanStep, ...] = field(default=())


def plan(
    directory: Directory = None,
    revision: str = "head",
    direction: str = "upgrade",
    x_arg: XArgs = None,
) -> Plan:
    """The steps ``upgrade`` (or ``downgrade``) to ``revision`` would run, changing nothing.

    env.py runs as for any command, through the run's EnvironmentContext and
    ScriptDirectory, with a function that reads the database's current
    revisions and lists Alembic's own steps from them, the way Alembic's
    ``upgrade`` computes them; it runs none, takes no lock and writes no
    ledger row.
    """
    from alembic.util import to_tuple

    from migrepo.engine.checks import check_target
    from migrepo.engine.commands import new_run
    from migrepo.store.reader import blob_hash

    check_target(revision)
    run = new_run(directory, x_arg=x_arg)
    script = run.script
    steps: list[PlanStep] = []
    seen_current: list[str] = []

    def record(rev: Any, context: Any) -> list[Any]:
        token = context.opts.get("upgrade_token", "upgrades")
        database = token[: -len("_upgrades")] if token.endswith("_upgrades") else ""
        seen_current.extend(rev)
        if direction == "upgrade":
            scripts = reversed(list(script.iterate_revisions(revision, rev, implicit_base=True)))
        else:
            scripts = iter(script.iterate_revisions(rev, revision, select_for_downgrade=True))
        for found in scripts:
            path = getattr(found, "path", None)
            steps.append(
                PlanStep(
                    direction,
                    found.revision,
                    to_tuple(found.down_revision, default=()),
                    found.doc or "",
                    path,
                    _hash_of(path, blob_hash),
                    database,
                )
            )
        return []

    run.run_env(record, dont_mutate=True)
    return Plan(direction, revision, tuple(dict.fromkeys(seen_current)), tuple(steps))


def _hash_of(path: str | None, blob_hash: Any) -> str | None:
    if not path:
        return None
    try:
        return str(blob_hash(Path(path).read_bytes()))
    except OSError:
        return None


