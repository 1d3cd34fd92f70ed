"""Write a revision graph in structured formats: JSON, Graphviz DOT, Mermaid.

Each function takes the graph and an optional ``order`` (the revisions to
write; :func:`~migrepo.graph.queries.newest_first` by default) and returns
the whole document as a string.  Links to revisions left out of ``order``
are not written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import networkx as nx

from migrepo.graph.queries import RevisionNode, newest_first, node


def to_json(G: nx.DiGraph, order: Iterable[str] | None = None) -> str:
    """Return a JSON list with one object per revision, one per line, in ``order``.

    Each object has exactly these fields: ``revision``, ``down_revisions``,
    ``dependencies`` and ``branch_labels`` (lists, as the record declares
    them, so a dependency may be a label), ``message``, ``path`` (or null),
    ``is_head``, ``is_base``, ``is_branch_point`` and ``is_merge_point``.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a1", message="create users")])
    >>> print(to_json(G))  # doctest: +NORMALIZE_WHITESPACE
    [
      {"revision": "a1", "down_revisions": [], "dependencies": [], "branch_labels": [],
       "message": "create users", "path": null, "is_head": true, "is_base": true,
       "is_branch_point": false, "is_merge_point": false}
    ]
    """
    items = []
    for view in _views(G, order):
        record = view.record
        items.append(
            {
                "revision": record.revision,
                "down_revisions": list(record.down_revisions),
                "dependencies": list(record.dependencies),
                "branch_labels": list(record.branch_labels),
                "message": record.message,
                "path": record.path,
                "is_head": view.is_head,
                "is_base": view.is_base,
                "is_branch_point": view.is_branch_point,
                "is_merge_point": view.is_merge_point,
            }
        )
    objects = ",\n".join(f"  {json.dumps(item, ensure_ascii=False)}" for item in items)
    return f"[\n{objects}\n]" if items else "[]"


def to_dot(G: nx.DiGraph, order: Iterable[str] | None = None) -> str:
    r"""Return a Graphviz ``digraph`` with the newest revisions at the top.

    Each parent link is one solid edge from parent to child; each dependency
    is one dashed edge labelled ``depends on``.  Every id and label is a
    quoted, escaped string.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a1", message='say "hi"'),
    ...                  RevisionRecord("b2", ("a1",))])
    >>> print(to_dot(G))
    digraph revisions {
      rankdir=BT;
      node [shape=box];
      "b2" [label="b2 (head)"];
      "a1" [label="a1\nsay \"hi\""];
      "a1" -> "b2";
    }
    """
    views = _views(G, order)
    lines = ["digraph revisions {", "  rankdir=BT;", "  node [shape=box];"]
    for view in views:
        lines.append(f"  {_dot_string(view.revision)} [label={_dot_string(_label(view))}];")
    for child, parent, dashed in _links(views):
        style = ' [style=dashed, label="depends on"]' if dashed else ""
        lines.append(f"  {_dot_string(parent)} -> {_dot_string(child)}{style};")
    lines.append("}")
    return "\n".join(lines)


def to_mermaid(G: nx.DiGraph, order: Iterable[str] | None = None) -> str:
    """Return a Mermaid ``flowchart`` with the newest revisions at the top.

    Nodes are named ``r0``, ``r1``... in ``order``, so a revision id never
    has to be a valid Mermaid name; labels are quoted, with ``"``, ``#``,
    ``&``, ``<``, ``>`` and ``;`` written as Mermaid entity codes.  Parent links are
    solid arrows, dependencies dotted ones.

    Examples
    --------
    >>> from migrepo.graph import RevisionRecord, build_graph
    >>> G = build_graph([RevisionRecord("a1", message="add <email>"),
    ...                  RevisionRecord("b2", ("a1",))])
    >>> print(to_mermaid(G))
    flowchart BT
      r0["b2 (head)"]
      r1["a1<br/>add #lt;email#gt;"]
      r1 --> r0
    """
    views = _views(G, order)
    name = {view.revision: f"r{i}" for i, view in enumerate(views)}
    lines = ["flowchart BT"]
    for view in views:
        lines.append(f'  {name[view.revision]}["{_mermaid_text(_label(view), "<br/>")}"]')
    for child, parent, dashed in _links(views):
        lines.append(f"  {name[parent]} {'-.->' if dashed else '-->'} {name[child]}")
    return "\n".join(lines)


def _views(G: nx.DiGraph, order: Iterable[str] | None) -> list[RevisionNode]:
    return [node(G, rev) for rev in (newest_first(G) if order is None else order)]


def _links(views: list[RevisionNode]) -> list[tuple[str, str, bool]]:
    """The (child, parent or dependency, is-dependency) links among ``views``."""
    shown = {view.revision for view in views}
    links = []
    for view in views:
        links += [(view.revision, rev, False) for rev in view.parents if rev in shown]
        links += [(view.revision, rev, True) for rev in view.dependencies if rev in shown]
    return links


def _label(view: RevisionNode) -> str:
    """A node's label: id and head marker, then the message on a second line."""
    first = f"{view.revision} (head)" if view.is_head else view.revision
    message = " ".join(view.record.message.split())
    return f"{first}\n{message}" if message else first


def _dot_string(text: str) -> str:
    """Quote ``text`` as a DOT string; a newline becomes a centred line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{_drop_controls(escaped)}"'


_MERMAID_ENTITIES = str.maketrans(
    {"#": "#35;", '"': "#quot;", "&": "#amp;", "<": "#lt;", ">": "#gt;", ";": "#59;"}
)


def _mermaid_text(text: str, line_break: str) -> str:
    lines = (_drop_controls(line.translate(_MERMAID_ENTITIES)) for line in text.split("\n"))
    return line_break.join(lines)


def _drop_controls(text: str) -> str:
    """Replace characters no viewer can show (control, separators) with spaces."""
    return text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)
