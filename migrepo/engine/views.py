"""The read commands' views: ``history`` in every format and ``show``.

Each function takes the command's options and returns the text to print;
``flask db`` only parses the options and prints. Where the output is
Alembic's own (``history`` as text, the head of ``show``), Alembic prints it,
as Flask-Migrate's output does, and the function returns what migrepo adds.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from migrepo.engine import commands as _commands
from migrepo.engine import repository as _repository
from migrepo.errors import DatabaseAhead

if TYPE_CHECKING:
    import networkx as nx

    from migrepo.engine.run import Run

Directory = str | os.PathLike[str] | None

FORMATS = ("text", "json", "dot", "mermaid")


def history(
    directory: Directory = None,
    *,
    rev_range: str | None = None,
    verbose: bool = False,
    indicate_current: bool = False,
    graph: bool = False,
    output_format: str = "text",
    color: bool = False,
    x_arg: _commands.XArgs = None,
) -> list[str]:
    """``flask db history``: the lines to print, newest first.

    Plain text is Alembic's, printed by Alembic (the list is then empty);
    ``graph`` draws like ``git log --graph``, with ``color`` on a terminal;
    ``output_format`` json, dot or mermaid exports the graph. With
    ``indicate_current``, a database at a revision this work tree lacks
    raises :class:`~migrepo.errors.DatabaseAhead` before anything is printed.
    """
    from migrepo import graph as g
    from migrepo.engine import drive

    run = _commands.new_run(directory, x_arg=x_arg)
    if not graph and output_format == "text":
        if indicate_current:
            _check_database_in(_commands.graph_of(run.config), _database_revisions(run))
        from migrepo.engine.options import HistoryOptions

        _commands.history(
            options=HistoryOptions(directory, rev_range, verbose, indicate_current, x_arg),
            run=run,
        )
        return []
    G = _commands.graph_of(run.config)
    order = g.newest_first(G)
    if rev_range is not None:
        wanted = set(_repository.revisions_in_range(run, rev_range))
        order = [rev for rev in order if rev in wanted]
    if output_format != "text":
        exporters = {"json": g.to_json, "dot": g.to_dot, "mermaid": g.to_mermaid}
        return [exporters[output_format](G, order)]
    current: set[str] = set()
    if indicate_current:
        current = drive.current_heads(run)
        _check_database_in(G, current)
    return list(g.render_graph(G, order=order, current=current, color=color, verbose=verbose))


def _database_revisions(run: Run) -> set[str]:
    """The database's revisions, or none when they cannot be read here: Alembic then
    reads them itself, and reports what is wrong."""
    try:
        return _repository.database_revisions(run)
    except Exception:
        return set()


def _check_database_in(graph: nx.DiGraph, current: set[str]) -> None:
    missing = current - set(graph)
    if missing:
        raise DatabaseAhead(missing)


def show(
    directory: Directory = None, revision: str = "head", x_arg: _commands.XArgs = None
) -> list[str]:
    """``flask db show``: Alembic prints the revision; returns the lines migrepo adds.

    They are the revision file's content hash (its git blob hash) and the
    commit that introduced the file, or why it is unknown (not committed, or
    before a shallow clone's boundary); when ``revision`` names several
    revisions, each label names its revision: ``Content hash (<rev>):``.
    """
    from migrepo.engine.options import ShowOptions

    run = _commands.new_run(directory, x_arg=x_arg)
    _commands.show(options=ShowOptions(directory, revision), run=run)
    report = _repository.shown_blame(run, revision)
    lines = []
    for row in report.rows:
        which = f" ({row.revision})" if len(report.rows) > 1 else ""
        lines.append(f"Content hash{which}: {row.content_hash}")
        lines.append(f"Introduced in{which}: {_introduced(row)}")
    return lines


def _introduced(row: Any) -> str:
    commit = row.introduced_in
    if commit is not None:
        return f"{commit.short_sha} {commit.subject} ({commit.author}, {commit.date})"
    if row.history_cut_off_at is not None:
        return (
            f"unknown: this shallow clone's history starts at "
            f"{row.history_cut_off_at.short_sha}, which has the file (it was added there or "
            "before; `git fetch --unshallow` tells)"
        )
    # No state: the file is outside any git work tree (or outside the migrations' one).
    return "(not in a git work tree)" if row.state is None else "(not committed)"


def rebase(result: Any, *, color: bool = False) -> list[str]:
    """``flask db rebase``: what moved (or would move), and with a dry run the graph
    before and after, from the branch point up, drawn as ``history --graph`` draws it."""
    from migrepo import graph as g

    if not result.moved:
        return [f"Nothing to rebase: the graph has one head ({result.revision or 'none'})."]
    count = len(result.moved)
    moved = f"{count} revision{'s' if count > 1 else ''} ({', '.join(result.moved)})"
    heads = ", ".join(result.heads)
    if not result.dry_run:
        lines = [
            f"Rebased {result.revision} onto {result.onto}: moved {moved}",
            f"Rewrote {result.path}: down_revision {result.old_parent} -> {result.onto}",
        ]
        if result.heads_file is not None:
            lines.append(f"Wrote {result.heads_file}: {heads}")
        return lines
    lines = [
        f"Would rebase {result.revision} onto {result.onto}: would move {moved}",
        f"Would rewrite {result.path}: down_revision {result.old_parent} -> {result.onto}",
        f"Would write HEADS: {heads}",
    ]
    # Only the two branches, from the branch point up: the history below is unchanged.
    for title, graph in (("Before", result.before), ("After", result.after)):
        order = [rev for rev in g.newest_first(graph) if rev in result.shown]
        lines += ["", f"{title}:"]
        lines += g.render_graph(graph, order=order, color=color)
    return lines
