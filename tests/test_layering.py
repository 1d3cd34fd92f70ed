"""Module rules of the package: no import circles, none over about 400 lines.

Imports are read with :mod:`ast`, including those inside functions: a circle
closed by a function-level import is still a circle a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"migrepo": ROOT / "migrepo", "migrepo.cli": ROOT / "cli"}
MAX_LINES = 400
_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
# Modules allowed over the limit: none. A module that grows past it is split by concern.
OVER_THE_LIMIT: set[str] = set()
KNOWN_CIRCLES: list[list[str]] = []


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING
        for statement in node.body
        for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:  # never imported at run time
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".") if is_package else name.split(".")[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            # `import a.b.c` imports a, a.b and a.b.c; a package's __init__ counts as itself.
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph() -> nx.DiGraph:
    found = modules()
    graph = nx.DiGraph()
    for name, path in found.items():
        graph.add_node(name)
        for target in imported(name, path, set(found)):
            graph.add_edge(name, target)
    return graph


def test_no_import_circles() -> None:
    graph = import_graph()
    # A package's __init__ importing its own submodules is not a circle of concern.
    graph.remove_edges_from(
        [(a, b) for a, b in graph.edges if b.startswith(a + ".") or a.startswith(b + ".")]
    )
    # Strongly connected components, not simple_cycles: networkx 3.2's simple_cycles
    # raises an ImportWarning without pandas.
    circles = sorted(
        sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1
    )
    assert circles == KNOWN_CIRCLES


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "if TYPE_CHECKING:\n    import migrepo.graph\n"
        "def f():\n    from migrepo.store import reader\n"
    )
    known = {"migrepo.store.reader", "migrepo.store", "migrepo.graph"}
    assert imported("x", source, known) == {
        "migrepo.store",
        "migrepo.store.reader",
    }


def test_modules_stay_small() -> None:
    over = {
        name
        for name, path in modules().items()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
    }
    assert over <= OVER_THE_LIMIT


def alembic_private_names() -> set[str]:
    """The private attribute names of the Alembic classes migrepo drives."""
    from alembic.autogenerate import RevisionContext
    from alembic.config import Config
    from alembic.operations import Operations
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext, MigrationStep
    from alembic.script import Script, ScriptDirectory
    from alembic.script.revision import Revision, RevisionMap

    classes = (
        RevisionContext, Config, Operations, EnvironmentContext, MigrationContext,
        MigrationStep, Script, ScriptDirectory, Revision, RevisionMap,
    )
    return {
        name
        for cls in classes
        for klass in cls.__mro__
        if klass.__module__.startswith("alembic.")
        for name in vars(klass)
        if name.startswith("_") and not name.startswith("__")
    }


def test_private_alembic_names_only_in_compat() -> None:
    """Every private Alembic attribute is touched in migrepo/_compat.py, behind a named
    function that says why, and nowhere else."""
    private = alembic_private_names()
    assert {"_upgrade_revs", "_stamp_revs", "_db_current_indicator"} <= private
    found = [
        f"{name}:{node.lineno}: {ast.unparse(node)}"
        for name, path in sorted(modules().items())
        if name != "migrepo._compat"
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path)))
        if isinstance(node, ast.Attribute) and node.attr in private
    ]
    assert found == []
