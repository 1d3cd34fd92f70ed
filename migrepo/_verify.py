"""``flask db verify``: integrity checks over a migrations directory.

A check is a function from a :class:`Subject` to findings. Add one by writing
the function and listing it in :data:`CHECKS`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from migrepo._reader import RevisionFile
from migrepo.graph.records import RevisionRecord


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["error", "warning"]
    message: str


@dataclass
class Subject:
    """What the checks look at: every revision file, read by running it."""

    files: list[RevisionFile]
    strict: bool = False
    records: list[RevisionRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [f.record for f in self.files if f.record is not None]


def unreadable_files(subject: Subject) -> Iterator[Finding]:
    for found in subject.files:
        if found.error is not None:
            yield Finding("error", str(found.error))


def unsound_graph(subject: Subject) -> Iterator[Finding]:
    from migrepo.graph import check_records

    for problem in check_records(subject.records):
        yield Finding("error", str(problem))


def several_heads(subject: Subject) -> Iterator[Finding]:
    from migrepo.graph import build_graph, check_records, heads

    if check_records(subject.records):
        return  # the graph is unsound: its heads mean nothing yet
    tips = heads(build_graph(subject.records))
    if len(tips) > 1:
        level: Literal["error", "warning"] = "error" if subject.strict else "warning"
        yield Finding(
            level,
            f"{len(tips)} heads ({', '.join(tips)}): run `flask db merge heads` to join them",
        )


CHECKS: list[Callable[[Subject], Iterable[Finding]]] = [
    unreadable_files,
    unsound_graph,
    several_heads,
]


def verify(subject: Subject) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(subject)]
