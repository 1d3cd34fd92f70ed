"""The checks of ``flask db test``, run in order on one empty database.

Each check drives Alembic through the engine (:mod:`migrepo.engine.drive`)
on a :class:`~migrepo.testing._target.TargetRun`. The throwaway database
gets no ledger rows and no lock: it is the run's own. The checks share one
:class:`_State`: what the previous checks left (the schema after the first
upgrade, whether the database is still in a known state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrepo.engine.run import XArgs
from migrepo.errors import UsageError
from migrepo.testing import Check, Outcome, Target
from migrepo.testing._schema import Snapshot, differences, one_line, snapshot, summary
from migrepo.testing._target import TargetRun, app_binds, as_mapping, refuse_app_database

if TYPE_CHECKING:
    from alembic.script import Script


@dataclass
class _State:
    urls: dict[str, str]
    directory: str | None
    x_arg: XArgs = None
    version_table: str = "alembic_version"
    upgraded: Snapshot | None = None  # bind -> snapshot, flattened as "bind:table"
    broken: str | None = None  # why the database is no longer in a known state
    order: list[str] = field(default_factory=list)
    parents: dict[str, str | None] = field(default_factory=dict)
    # Linear histories only: the schema after each revision, from the upgrade check.
    steps: dict[str, Snapshot] = field(default_factory=dict)

    def run(self) -> TargetRun:
        return TargetRun.to(self.urls, self.directory, self.x_arg)

    def snapshot(self) -> Snapshot:
        exclude = {self.version_table}
        whole: Snapshot = {}
        for bind, url in self.urls.items():
            for name, table in snapshot(url, exclude).items():
                whole[f"{bind}:{name}" if bind else name] = table
        return whole


def build(target: Target, directory: str | None, x_arg: XArgs = None) -> list[Check]:
    urls = as_mapping(target, app_binds())
    refuse_app_database(urls)
    state = _State(urls, directory, x_arg)
    run = state.run()
    state.version_table = run.configure_args.get("version_table") or state.version_table
    try:
        scripts = _oldest_first(run.script)
    finally:
        run.dispose()
    state.order = [s.revision for s in scripts]
    if all(len(s.nextrev) <= 1 and len(_parents(s)) <= 1 for s in scripts):
        state.parents = {s.revision: (_parents(s) or (None,))[0] for s in scripts}
    found = [
        Check("single-head", None, None, lambda: _single_head(state)),
        Check("upgrade", None, None, lambda: _upgrade(state)),
        Check("model-match", None, None, lambda: _model_match(state)),
    ]
    for index, script in enumerate(scripts):
        found.append(Check("stairway", script.revision, None, _step(state, script, index == 0)))
    found.append(Check("round-trip", None, None, lambda: _round_trip(state)))
    return found


def _step(state: _State, script: Script, first: bool) -> Callable[[], Outcome]:
    return lambda: _stairway(state, script, first)


def _parents(script: Script) -> tuple[str, ...]:
    from alembic.util import to_tuple

    return tuple(to_tuple(script.down_revision) or ())


def _oldest_first(script: Any) -> list[Script]:
    return list(reversed([s for s in script.walk_revisions() if s is not None]))


def _reraise_setup_errors(exc: Exception) -> None:
    """A UsageError (an env.py that cannot be pointed at the target) stops every check."""
    if isinstance(exc, UsageError):
        raise exc


def _passed(name: str, revision: str | None = None) -> Outcome:
    return Outcome(name, True, revision, None)


def _failed(name: str, revision: str | None, reason: str) -> Outcome:
    return Outcome(name, False, revision, reason)


def _not_run(state: _State, name: str, revision: str | None = None) -> Outcome | None:
    if state.broken is None:
        return None
    return Outcome(name, False, revision, f"not run: {state.broken}", skipped=True)


# --- the checks ------------------------------------------------------------------


def _single_head(state: _State) -> Outcome:
    from migrepo.store import heads_file

    run = state.run()
    try:
        heads = sorted(run.script.get_heads())
        if len(heads) <= 1:
            return _passed("single-head", heads[0] if heads else None)
        recorded = heads_file.read(run.directory)
    finally:
        run.dispose()
    if recorded is not None and sorted(recorded) == heads:
        return _passed("single-head")
    return _failed(
        "single-head",
        heads[-1],
        f"{len(heads)} heads ({', '.join(heads)}): merge them with `flask db merge heads`"
        + ("" if recorded is None else " or record them in HEADS"),
    )


def _upgrade(state: _State) -> Outcome:
    from migrepo.engine import drive

    run = state.run()
    revision = None
    try:
        if state.parents:  # a linear history: one revision at a time, to blame the right one
            for revision in state.order:
                drive.upgrade(run, revision)
                state.steps[revision] = state.snapshot()
        else:
            drive.upgrade(run, "heads")
    except Exception as exc:
        _reraise_setup_errors(exc)
        state.broken = "the upgrade from base failed"
        blamed = revision if state.parents else _failing(state, run)
        return _failed("upgrade", blamed, one_line(exc))
    finally:
        run.dispose()
    state.upgraded = state.snapshot()
    return _passed("upgrade")


def _while(revision: str) -> str:
    return f"downgrading from the heads to base, the downgrade of {revision}"


def _down_to_base(state: _State, run: TargetRun) -> Outcome | None:
    """Downgrade from the heads to base; a failed Outcome when a revision's downgrade fails."""
    from migrepo.engine import drive

    if not state.parents or len(state.steps) != len(state.order):
        drive.downgrade(run, "base")
        left = differences({}, state.snapshot())
        if not left:
            return None
        return _failed(
            "stairway",
            state.order[0] if state.order else None,
            "the downgrade from the heads to base leaves " + summary(left),
        )
    expected: list[Snapshot] = [{}, *(state.steps[r] for r in state.order[:-1])]
    for revision, before in reversed(list(zip(state.order, expected, strict=True))):
        try:
            drive.downgrade(run, state.parents[revision] or "base")
        except Exception as exc:
            _reraise_setup_errors(exc)
            return _failed("stairway", revision, f"{_while(revision)} failed: {one_line(exc)}")
        undone = differences(before, state.snapshot())
        if undone:
            return _failed(
                "stairway",
                revision,
                f"{_while(revision)} does not undo its upgrade: " + summary(undone),
            )
    return None


def _failing(state: _State, run: TargetRun) -> str | None:
    """The first revision (oldest first) the database at ``state`` has not applied."""
    from migrepo.engine import drive

    try:
        current = drive.current_heads(run)
        applied = {s.revision for s in run.script.iterate_revisions(tuple(current), "base") if s}
    except Exception:
        return None
    for revision in state.order:
        if revision not in applied:
            return revision
    return None


def _model_match(state: _State) -> Outcome:
    skipped = _not_run(state, "model-match")
    if skipped is not None:
        return skipped
    from migrepo.engine import drive

    run = state.run()
    try:
        context = drive.new_revision_context(run, autogenerate=True)
        drive.fill(run, context, autogenerate=True, sql=False)
    finally:
        run.dispose()
    binds = list(state.urls)
    diffs: list[str] = []
    for index, ops in enumerate(context.generated_revisions[-1].upgrade_ops_list):
        bind = binds[index] if len(binds) > 1 and index < len(binds) else ""
        for diff in ops.as_diffs():
            diffs.append((f"{bind}: " if bind else "") + _describe(diff))
    if diffs:
        return _failed(
            "model-match",
            None,
            f"the models differ from the migrated schema: {summary(diffs)}; "
            "add a revision with `flask db migrate`",
        )
    return _passed("model-match")


def _describe(diff: Any) -> str:
    if isinstance(diff, list):
        return ", ".join(_describe(d) for d in diff)
    kind = diff[0]
    for item in diff[1:]:
        name = getattr(item, "name", None)
        if name is not None:
            table = getattr(getattr(item, "table", None), "name", None)
            return f"{kind} {table + '.' if table else ''}{name}"
    return str(kind)


def _stairway(state: _State, script: Script, first: bool) -> Outcome:
    from migrepo.engine import drive

    revision = script.revision
    skipped = _not_run(state, "stairway", revision)
    if skipped is not None:
        return skipped
    run = state.run()
    stage = "downgrade from the heads to base"
    try:
        before: Snapshot = {}
        if first:  # the upgrade check left the database at the heads
            failed = _down_to_base(state, run)
            if failed is not None:
                state.broken = f"the stairway failed at {failed.revision}"
                return failed
        else:
            before = state.snapshot()
        stage = "upgrade"
        drive.upgrade(run, revision)
        after = state.snapshot()
        stage = "downgrade"
        parents = _parents(script)
        drive.downgrade(run, parents[0] if parents else "base")
        undone = differences(before, state.snapshot())
        if undone:
            state.broken = f"the stairway failed at {revision}"
            return _failed(
                "stairway",
                revision,
                "the downgrade does not undo the upgrade: " + summary(undone),
            )
        stage = "upgrade again"
        drive.upgrade(run, revision)
        redone = differences(after, state.snapshot())
        if redone:
            state.broken = f"the stairway failed at {revision}"
            return _failed(
                "stairway", revision, "upgrading again gives another schema: " + summary(redone)
            )
    except Exception as exc:
        _reraise_setup_errors(exc)
        state.broken = f"the stairway failed at {revision}"
        blamed = _failing(state, run) if stage.startswith("downgrade from") else revision
        return _failed("stairway", blamed or revision, f"{stage} failed: {one_line(exc)}")
    finally:
        run.dispose()
    return _passed("stairway", revision)


def _round_trip(state: _State) -> Outcome:
    from migrepo.engine import drive

    skipped = _not_run(state, "round-trip")
    if skipped is not None:
        return skipped
    run = state.run()
    try:
        drive.upgrade(run, "heads")
        drive.downgrade(run, "base")
        drive.upgrade(run, "heads")
    except Exception as exc:
        _reraise_setup_errors(exc)
        state.broken = "the round trip failed"
        return _failed("round-trip", _failing(state, run), one_line(exc))
    finally:
        run.dispose()
    found = differences(state.upgraded or {}, state.snapshot())
    if found:
        return _failed(
            "round-trip",
            None,
            "the schema after downgrade to base and upgrade differs from the first upgrade: "
            + summary(found),
        )
    return _passed("round-trip")
