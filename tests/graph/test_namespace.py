"""The ``>>>`` examples in the graph modules' docstrings run and pass."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["build", "export", "queries", "records", "render"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"migrepo.graph.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_public_names() -> None:
    import migrepo.graph

    # Names load lazily (PEP 562): every name in __all__ resolves, and nothing
    # public sits in the namespace without being listed.
    for name in migrepo.graph.__all__:
        assert getattr(migrepo.graph, name) is not None
    assert sorted(migrepo.graph.__all__) == sorted(
        name
        for name in vars(migrepo.graph)
        if not name.startswith("_")
        and name not in {"build", "export", "queries", "records", "render"}
    )
