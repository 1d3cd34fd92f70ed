"""``flask db rebase``: move one branch of the revision graph onto the other head.

Instead of a merge revision, the lowest revision of one head's branch gets
the other head as its parent (``down_revision`` and the docstring's
``Revises:`` line); every file keeps its revision id. It is refused for a
revision applied to this database (version table or ledger) or held by a
remote-tracking branch, and for a branch that is not a plain line off the
other head's history.

Which head moves, by default (two heads, no ``REV``): a head whose branch
cannot move stays; when both could, the head whose revisions all came with
HEAD's own first-parent history stays, and the merged-in (or uncommitted)
one moves; otherwise ``REV`` must be named. Nothing is written until every
check has passed, and the file is replaced in one step.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrepo.errors import (
    CycleDetected,
    GitError,
    MigrepoError,
    RebaseRefused,
    RepositoryError,
    UsageError,
)

if TYPE_CHECKING:
    import networkx as nx

    from migrepo.audit.published import Provenance
    from migrepo.engine.options import RebaseOptions
    from migrepo.engine.run import Run
    from migrepo.store.reader import RevisionFile

log = logging.getLogger("migrepo")


@dataclass
class Rebase:
    """What a rebase moves, and the graph before and after.

    ``moved`` is empty when there was nothing to do (a single head).
    """

    revision: str  # the head whose branch moves
    onto: str  # the head it moves onto
    moved: list[str]  # the moved revisions, newest first
    lowest: str = ""  # the moved revision whose file changes
    path: str = ""  # its file
    old_parent: str = ""
    before: nx.DiGraph | None = None
    after: nx.DiGraph | None = None
    heads: list[str] = field(default_factory=list)  # the heads after
    # The revisions a drawing needs: both branches, from the branch point up.
    shown: set[str] = field(default_factory=set)
    dry_run: bool = False
    heads_file: str | None = None  # the HEADS file written; None if not (dry run, or failed)


@dataclass
class _Branch:
    """One head's branch, relative to the other head, and why it may not move."""

    head: str
    onto: str
    moved: list[str]  # newest first
    lowest: str | None
    parent: str | None
    reasons: list[str] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)  # moved revisions applied to the database


def rebase(*, options: RebaseOptions) -> Rebase:
    """Move a branch of the revision graph onto another head; see the module docstring."""
    from migrepo.engine.commands import new_run
    from migrepo.graph import build_graph
    from migrepo.graph import heads as graph_heads
    from migrepo.store.reader import read_revision_files

    run = new_run(options.directory)
    files = read_revision_files(run.config)
    for found in files:
        if found.error is not None:
            raise found.error
    by_revision = {f.record.revision: f for f in files if f.record is not None}
    graph = build_graph([f.record for f in files if f.record is not None])
    tips = graph_heads(graph)
    known = list(graph)
    revision = _resolve(known, options.revision)
    onto = _resolve(known, options.onto)
    for name, value in (("REV", revision), ("--onto", onto)):
        if value is not None and value not in tips:
            raise UsageError(
                f"{name} {value} is not a head (the heads are {', '.join(tips)}): "
                "rebase moves a whole branch, from its head, onto another head"
            )
    if len(tips) < 2:
        return Rebase(tips[0] if tips else "", tips[0] if tips else "", [], heads=tips)
    if revision is not None and revision == onto:
        raise UsageError(f"REV and --onto are both {revision}: name two different heads")
    candidates = _candidates(tips, revision, onto)
    branches = [_branch(graph, head, other) for head, other in candidates]
    # Ask the database and git only about branches whose shape allows the move.
    plain = [branch for branch in branches if not branch.reasons]
    provenance: dict[str, Provenance] = {}
    if plain:
        _check_applied(run, graph, plain)
        provenance = _check_published(run, plain, by_revision)
    chosen = _choose(branches, provenance)
    assert chosen.lowest is not None and chosen.parent is not None
    lowest = by_revision[chosen.lowest]
    assert lowest.record is not None
    records = [
        _reparented(f.record, chosen.onto) if f.record.revision == chosen.lowest else f.record
        for f in files
        if f.record is not None
    ]
    after = _after(records, chosen)
    new_data = _rewritten(lowest, chosen.parent, chosen.onto)
    result = Rebase(
        chosen.head,
        chosen.onto,
        chosen.moved,
        lowest=chosen.lowest,
        path=str(lowest.path),
        old_parent=chosen.parent,
        before=graph,
        after=after,
        heads=graph_heads(after),
        shown=_shown(graph, chosen),
        dry_run=options.dry_run,
    )
    if not options.dry_run:
        from migrepo.store.rewrite import replace_source

        replace_source(lowest.path, new_data)
        result.heads_file = _write_heads(run.directory, result.heads)
    return result


def _shown(graph: nx.DiGraph, branch: _Branch) -> set[str]:
    """The branch point, the moved revisions, and the other head's line above the branch point."""
    from migrepo.graph import ancestors

    assert branch.parent is not None
    below = set(ancestors(graph, branch.parent, dependencies=False))
    kept = {branch.onto, *ancestors(graph, branch.onto, dependencies=False)} - below
    return kept | set(branch.moved)


def _resolve(known: list[str], argument: str | None) -> str | None:
    if argument is None:
        return None
    from migrepo.engine.checks import match_revision

    return match_revision(known, argument)


def _candidates(
    tips: list[str], revision: str | None, onto: str | None
) -> list[tuple[str, str]]:
    """The (head to move, head to move onto) pairs the rules choose between."""
    if revision is not None and onto is not None:
        return [(revision, onto)]
    given = revision if revision is not None else onto
    others = [tip for tip in tips if tip != given]
    if given is not None:
        if len(others) != 1:
            missing = "--onto TARGET" if revision is not None else "REV"
            raise UsageError(
                f"there are {len(tips)} heads ({', '.join(tips)}): "
                f"name the other one with {missing}"
            )
        return [(revision, others[0])] if revision is not None else [(others[0], given)]
    if len(tips) > 2:
        raise UsageError(
            f"there are {len(tips)} heads ({', '.join(tips)}): name the head to move and "
            "the head to move it onto, `flask db rebase REV --onto TARGET`, or run "
            "`flask db merge heads`"
        )
    first, second = tips
    return [(first, second), (second, first)]


def _branch(graph: nx.DiGraph, head: str, onto: str) -> _Branch:
    """The revisions that move when ``head`` moves onto ``onto``, and what forbids it."""
    from migrepo.graph import ancestors, newest_first, node

    kept = {onto, *ancestors(graph, onto, dependencies=False)}
    moving = {head, *ancestors(graph, head, dependencies=False)} - kept
    moved = [rev for rev in newest_first(graph) if rev in moving]
    branch = _Branch(head, onto, moved, None, None)
    for rev in moved:
        facts = node(graph, rev)
        if facts.is_merge_point:
            branch.reasons.append(
                f"the branch holds merge revision {rev}: only a line of revisions can move"
            )
        outside = [child for child in facts.children if child not in moving]
        if outside:
            branch.reasons.append(
                f"{rev} also has child {', '.join(outside)}, on another branch, "
                "which would move too"
            )
        if facts.record.branch_labels:
            branch.reasons.append(
                f"{rev} carries branch label {', '.join(facts.record.branch_labels)}: "
                "a labelled branch is meant to stay apart"
            )
    lowest = [rev for rev in moved if not set(node(graph, rev).parents) & moving]
    if len(lowest) == 1 and not branch.reasons:
        branch.lowest = lowest[0]
        parents = node(graph, lowest[0]).parents
        if not parents:
            branch.reasons.append(
                f"{lowest[0]} is a base: the branch shares no revision with {onto}"
            )
        else:
            branch.parent = parents[0]
    return branch


def _check_applied(run: Run, graph: nx.DiGraph, branches: list[_Branch]) -> None:
    """Add a reason to each branch with a revision applied to this database."""
    from migrepo.audit.verify import applied as ledger_applied
    from migrepo.engine.log import read_ledger
    from migrepo.engine.repository import database_revisions
    from migrepo.graph import ancestors, node

    try:
        current = database_revisions(run)
        rows = read_ledger(run)
    except MigrepoError:
        raise
    except Exception as exc:
        from migrepo._text import mask_passwords

        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        reason = mask_passwords(lines[0])
        raise RepositoryError(
            f"cannot read the database to check that the revisions to move were never "
            f"applied: {reason}; rebase where the app's database can be reached"
        ) from exc
    where: dict[str, str] = {}
    for rev in current & set(graph):
        for applied in (rev, *ancestors(graph, rev)):
            where.setdefault(applied, f"the database is at {rev}")
    children = {rev: set(node(graph, rev).children) for rev in graph}
    for rev, row in ledger_applied(rows, children).items():
        where.setdefault(
            rev, f"the ledger has it applied on {row['started_at']:%Y-%m-%d %H:%M} "
            f"by {row['applied_by']}",
        )
    for branch in branches:
        branch.applied = {rev for rev in branch.moved if rev in where}
        if branch.applied:
            revs = [rev for rev in branch.moved if rev in branch.applied]
            verb = "is" if len(revs) == 1 else "are"
            branch.reasons.append(
                f"{', '.join(revs)} {verb} applied to this database ({where[revs[-1]]})"
            )


def _check_published(
    run: Run, branches: list[_Branch], by_revision: dict[str, RevisionFile]
) -> dict[str, Provenance]:
    """Add a reason to each branch with a revision a remote-tracking branch holds.

    Returns what git knows of each moved revision (nothing outside git).
    """
    from migrepo.audit.published import provenance
    from migrepo.store.reader import version_locations

    wanted = {rev: by_revision[rev].path for branch in branches for rev in branch.moved}
    try:
        found = provenance(list(wanted.values()), run.directory, version_locations(run.config))
    except GitError as exc:
        raise RepositoryError(
            f"{exc}; rebase needs git to check that the revisions to move were never pushed"
        ) from exc
    if found is None:
        return {}
    known = {
        rev: found[os.fspath(path)] for rev, path in wanted.items() if os.fspath(path) in found
    }
    for branch in branches:
        pushed = [rev for rev in branch.moved if rev in known and known[rev].remote_branches]
        if pushed:
            remotes = sorted({name for rev in pushed for name in known[rev].remote_branches})
            verb = "is" if len(pushed) == 1 else "are"
            branch.reasons.append(
                f"{', '.join(pushed)} {verb} already pushed (in {', '.join(remotes)}), "
                "so others may have applied it"
            )
    return known


def _choose(
    branches: list[_Branch], provenance: dict[str, Provenance]
) -> _Branch:
    """The branch to move: see the rules in the module docstring."""
    if len(branches) == 1:
        branch = branches[0]
        if branch.reasons:
            raise RebaseRefused(
                f"cannot rebase {branch.head} onto {branch.onto}: {'; '.join(branch.reasons)}; "
                + _hint(branch)
            )
        return branch
    movable = [branch for branch in branches if not branch.reasons]
    if len(movable) == 1:
        return movable[0]
    if not movable:
        why = "; ".join(f"{b.head}'s branch: {', '.join(b.reasons)}" for b in branches)
        raise RebaseRefused(
            f"neither head can be rebased onto the other ({why}); "
            "join them with `flask db merge heads` instead"
        )

    def on_main_line(branch: _Branch) -> bool:
        return all(rev in provenance and provenance[rev].on_main_line for rev in branch.moved)

    staying = [branch for branch in movable if on_main_line(branch)]
    if len(staying) == 1:
        return next(branch for branch in movable if branch is not staying[0])
    first, second = movable
    raise UsageError(
        f"either head could move ({first.head}, {second.head}): name the one to move, "
        f"`flask db rebase {first.head}` (onto {first.onto}) or "
        f"`flask db rebase {second.head}` (onto {second.onto})"
    )


def _hint(branch: _Branch) -> str:
    applied = [rev for rev in branch.moved if rev in branch.applied]
    if applied and branch.parent is not None:
        return (
            f"downgrade the database first (`flask db downgrade {branch.parent}`), "
            "or join the heads with `flask db merge heads`"
        )
    return "join the heads with `flask db merge heads` instead"


def _reparented(record: Any, parent: str) -> Any:
    from dataclasses import replace

    return replace(record, down_revisions=(parent,))


def _after(records: list[Any], branch: _Branch) -> nx.DiGraph:
    """The graph after the move; a dependency that now points forward is a cycle."""
    from migrepo.graph import build_graph

    try:
        return build_graph(records)
    except CycleDetected as exc:
        raise RebaseRefused(
            f"cannot rebase {branch.head} onto {branch.onto}: the revision links would form "
            f"a cycle ({' -> '.join(exc.revisions)}), because a revision up to {branch.onto} "
            "depends on one that would move after it; join the heads with "
            "`flask db merge heads` instead"
        ) from exc


def _rewritten(found: RevisionFile, old_parent: str, new_parent: str) -> bytes:
    from migrepo.store.reader import blob_hash
    from migrepo.store.rewrite import reparent

    data = found.path.read_bytes()
    if blob_hash(data) != found.blob:
        raise RepositoryError(f"{found.path} changed while rebase read it: run it again")
    return reparent(data, str(found.path), old_parent, new_parent)


def _write_heads(directory: str, heads: list[str]) -> str | None:
    """Rewrite HEADS for the new graph; a failure is a warning (the rebase itself is done)."""
    from migrepo._text import mask_passwords
    from migrepo.store import heads_file

    try:
        return heads_file.write(directory, heads)
    except OSError as exc:
        log.warning(
            "%s not updated: %s. Once that is fixed, run `flask db heads --write`.",
            heads_file.HEADS_FILE, mask_passwords(str(exc)),
        )
        return None
