"""The declared dependency ranges and the lowest versions ``make test`` runs at.

``ci/lowest.txt`` pins every lower bound declared in ``pyproject.toml``;
``make test-lowest`` installs exactly those pins and runs the suite, with
``MIGREPO_TEST_LOWEST`` naming the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lint tools run once, from the latest versions, in `make lint`.
NOT_PINNED = {"ruff", "mypy"}
REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[(?P<extras>[a-z,]+)\])?>=(?P<low>[\w.]+)$"
)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, str]:
    """Each declared requirement's lower bound, binary wheels of psycopg included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = [
        *project["build-system"]["requires"],
        *project["project"]["dependencies"],
        *(r for extra in project["project"]["optional-dependencies"].values() for r in extra),
    ]
    bounds: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        assert match, f"{requirement!r}: declare a lower bound only (name>=version)"
        name = normalise(match["name"])
        if name in NOT_PINNED:
            continue
        assert bounds.get(name, match["low"]) == match["low"], f"two bounds for {name}"
        bounds[name] = match["low"]
        for extra in (match["extras"] or "").split(","):
            if extra == "binary":
                bounds[f"{name}-binary"] = match["low"]
    return bounds


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "ci" / "lowest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, pin = line.partition("==")
            pins[normalise(name)] = pin
    return pins


def test_lowest_pins_are_the_declared_lower_bounds() -> None:
    assert pinned() == declared()


@pytest.mark.skipif(
    not os.environ.get("MIGREPO_TEST_LOWEST"), reason="only in `make test-lowest`"
)
def test_the_lowest_run_has_the_lowest_versions() -> None:
    installed = {name: version(name) for name in pinned()}
    assert installed == pinned()


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI's Hypothesis profile")
def test_hypothesis_is_derandomized_under_ci() -> None:
    from hypothesis import HealthCheck, settings

    from tests.graph.strategies import FAST

    for chosen in (settings.default, FAST):
        assert chosen.derandomize and chosen.database is None
        assert HealthCheck.too_slow in chosen.suppress_health_check
