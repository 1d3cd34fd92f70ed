"""The plain data a revision graph is built from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """One revision as the graph sees it: no file access, no Alembic objects.

    >>> RevisionRecord("b2", down_revisions=("a1",), message="add email").down_revisions
    ('a1',)
    """

    revision: str
    down_revisions: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()
    message: str = ""
    path: str | None = None
