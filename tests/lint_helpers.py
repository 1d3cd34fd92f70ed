"""Revision files with real ``op.*`` bodies, for the sql and lint tests."""

from __future__ import annotations

from pathlib import Path

from tests.apps import Project, revision_text


def write_ops(
    proj: Project,
    rev: str,
    down: object,
    upgrade: str,
    downgrade: str = "raise NotImplementedError('one way')",
    *,
    name: str = "x",
) -> Path:
    """Write ``versions/<rev>_<name>.py`` whose upgrade() body is ``upgrade``."""
    path = proj.migrations / "versions" / f"{rev}_{name}.py"
    path.write_text(
        revision_text(rev, down, upgrade, downgrade),
        encoding="utf-8",
    )
    return path


USER_TABLE = """
op.create_table(
    "account",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50)),
)
"""


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")
