"""The drawing reader used by the render tests must catch broken lanes."""

from __future__ import annotations

import pytest

from .drawing import DrawingError, read_drawing


def reached(*lines: str) -> dict[str, set[str]]:
    drawing = read_drawing(list(lines))
    return {rev: drawing.reached.get(rev, set()) for rev in drawing.rows}


def test_reads_branches_merges_and_crossings() -> None:
    assert reached("* m", "|\\", "* | b", "| * c", "|/", "* a") == {
        "m": {"b", "c"},
        "b": {"a"},
        "c": {"a"},
        "a": set(),
    }
    assert reached("* c", "| * b", "| | * d", "|_|/", "* | a", " /", "* x") == {
        "c": {"a"},
        "b": {"x"},
        "d": {"a"},
        "a": set(),
        "x": set(),
    }


def test_a_base_above_an_unrelated_revision_needs_a_gap() -> None:
    assert reached("* b", "", "* a") == {"b": set(), "a": set()}
    assert reached("* b", "* a") == {"b": {"a"}, "a": set()}


def test_wrong_join_reaches_the_wrong_revision() -> None:
    # b's parent is x, but its lane is joined into a's.
    assert reached("* c", "| * b", "|/", "* a", "* x")["b"] == {"a"}


@pytest.mark.parametrize(
    "lines",
    [
        ["* c", "| * b", "|\\", "* a"],  # a lane left dangling at column 1
        ["* a", "| |"],  # a lane from nothing
        ["* c", "|\\", "* |"],  # a revision line without a revision id
        ["* a", "|_/", "* b"],  # '_' in a lane column
        ["* a", "| _", "* b"],  # '_' leading nowhere
        ["* * a"],  # two revisions on a line
        ["* a", "|\\", "* \\ b"],  # a revision line moving lanes
        ["* a", "|\\"],  # lanes running past the last line
        ["* a", "* a"],  # a revision drawn twice
    ],
)
def test_broken_drawings(lines: list[str]) -> None:
    with pytest.raises(DrawingError):
        read_drawing(lines)
