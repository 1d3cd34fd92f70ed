"""The revision graph: records in, an ``nx.DiGraph`` out, queries and renderers on top."""

from migrepo.graph.build import DEPENDENCY, PARENT, build_graph, check_records, find_cycles
from migrepo.graph.export import to_dot, to_json, to_mermaid
from migrepo.graph.queries import (
    RevisionNode,
    ancestors,
    bases,
    branch_points,
    descendants,
    heads,
    merge_points,
    newest_first,
    node,
)
from migrepo.graph.records import RevisionRecord
from migrepo.graph.render import render_graph

__all__ = [
    "DEPENDENCY",
    "PARENT",
    "RevisionNode",
    "RevisionRecord",
    "ancestors",
    "bases",
    "branch_points",
    "build_graph",
    "check_records",
    "descendants",
    "find_cycles",
    "heads",
    "merge_points",
    "newest_first",
    "node",
    "render_graph",
    "to_dot",
    "to_json",
    "to_mermaid",
]
