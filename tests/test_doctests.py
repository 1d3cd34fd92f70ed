"""The ``>>>`` examples in migrepo's docstrings run and pass.

Every module of the package is collected, so an example added anywhere runs
without registering it here. ``EXPECTED`` guards against the collection
silently finding nothing.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import migrepo

# The template folders hold env.py files, which run only under Alembic.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(migrepo.__path__, "migrepo.")
    if not info.name.startswith("migrepo.templates")
)

EXPECTED = {
    "migrepo._compat",
    "migrepo._text",
    "migrepo.graph.build",
    "migrepo.graph.export",
    "migrepo.graph.queries",
    "migrepo.graph.records",
    "migrepo.graph.render",
    "migrepo.store.blob",
}


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in EXPECTED:
        assert result.attempted > 0


def test_every_expected_module_is_collected() -> None:
    assert set(MODULES) >= EXPECTED
