"""The revision graph: records in, an ``nx.DiGraph`` out, queries and renderers on top.

Submodules load on first use (PEP 562), so that reading plain
:class:`RevisionRecord` data does not import networkx.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
    from migrepo.graph.render import render_graph

from migrepo.graph.records import RevisionRecord

_HOME = {
    "DEPENDENCY": "build",
    "PARENT": "build",
    "build_graph": "build",
    "check_records": "build",
    "find_cycles": "build",
    "to_dot": "export",
    "to_json": "export",
    "to_mermaid": "export",
    "RevisionNode": "queries",
    "ancestors": "queries",
    "bases": "queries",
    "branch_points": "queries",
    "descendants": "queries",
    "heads": "queries",
    "merge_points": "queries",
    "newest_first": "queries",
    "node": "queries",
    "render_graph": "render",
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'migrepo.graph' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"migrepo.graph.{home}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


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
