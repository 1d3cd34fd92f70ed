"""``flask db verify``: integrity checks over a migrations directory.

A check is a function from a :class:`Subject` to findings. Add one by writing
the function and listing it in :data:`CHECKS`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from migrepo.graph.records import RevisionRecord
from migrepo.store.reader import RevisionFile


@dataclass(frozen=True, slots=True)
class Finding:
    # A note says what verify cannot know; it never fails the run, even with --strict.
    level: Literal["error", "warning", "note"]
    message: str


@dataclass
class Subject:
    """What the checks look at: every revision file, read by running it."""

    files: list[RevisionFile]
    strict: bool = False
    # The migrations directory, for the checks of files beside the revisions (HEADS).
    directory: str | None = None
    # Ledger rows, newest first; None when the database could not be read.
    ledger: list[dict[str, Any]] | None = None
    ledger_error: str | None = None
    # The version locations: the git history of the files is walked over them.
    locations: list[Path] = field(default_factory=list)
    # The revisions the database is at; None when unknown.
    database: set[str] | None = None
    records: list[RevisionRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [f.record for f in self.files if f.record is not None]


def unreadable_files(subject: Subject) -> Iterator[Finding]:
    for found in subject.files:
        if found.error is not None:
            yield Finding("error", str(found.error))


def unsound_graph(subject: Subject) -> Iterator[Finding]:
    """Duplicate ids, missing parents and cycles.

    A parent whose file exists but cannot be read is reported once, by
    :func:`unreadable_files`, not again as missing by each of its children.
    """
    from migrepo.errors import MissingParent
    from migrepo.graph import check_records
    from migrepo.store.reader import declared_revision

    unreadable = {
        declared_revision(found.path) for found in subject.files if found.error is not None
    }
    for problem in check_records(subject.records):
        if isinstance(problem, MissingParent) and problem.parent in unreadable:
            continue
        yield Finding("error", str(problem))


def several_heads(subject: Subject) -> Iterator[Finding]:
    from migrepo.graph import build_graph, check_records, heads

    if any(found.error is not None for found in subject.files) or check_records(subject.records):
        return  # an unreadable file or an unsound graph: its heads mean nothing yet
    tips = heads(build_graph(subject.records))
    if len(tips) > 1:
        level: Literal["error", "warning"] = "error" if subject.strict else "warning"
        yield Finding(
            level,
            f"{len(tips)} heads ({', '.join(tips)}): run `flask db merge heads` to join them",
        )


def heads_file(subject: Subject) -> Iterator[Finding]:
    """The HEADS file agrees with the graph's heads (see :mod:`migrepo.store.heads_file`)."""
    from migrepo.graph import build_graph, check_records
    from migrepo.store import heads_file as _integrity

    if subject.directory is None:
        return
    readable = all(found.error is None for found in subject.files)
    sound = readable and not check_records(subject.records)
    # An unsound graph's heads mean nothing yet: then only the file itself is checked.
    problem = _integrity.check(subject.directory, build_graph(subject.records) if sound else None)
    if problem is not None:
        yield Finding("error" if subject.strict else problem.level, problem.message)


def uncommitted_files(subject: Subject) -> Iterator[Finding]:
    """Revision files git has not committed as they are: they would not ship with the code.

    Outside a git work tree there is nothing to check.
    """
    from migrepo.audit import gitrepo as _git
    from migrepo.errors import GitError

    if not subject.files:
        return
    from migrepo.audit.walk import shallow_boundary

    try:
        repo = _git.open_repo(subject.files[0].path.parent)
        if repo is None:
            return
        with repo:
            relpaths = _git.relative_paths(repo, [found.path for found in subject.files])
            states = _git.file_states(repo, [rel for rel in relpaths.values() if rel is not None])
            boundary = shallow_boundary(repo)
    except GitError as exc:
        yield Finding("warning", f"cannot tell which revision files are committed: {exc}")
        return
    level: Literal["error", "warning"] = "error" if subject.strict else "warning"
    for rel, state in states.items():
        if state != "committed":
            yield Finding(level, f"{rel} is not committed ({state}): commit it with the code")
    if boundary:
        yield Finding(
            "note",
            f"shallow clone: git's history stops at {', '.join(b[:7] for b in boundary)}; "
            "the files are checked against HEAD, but the commits that added or changed them "
            "before that are unknown (`git fetch --unshallow` fetches them)",
        )


def changed_after_apply(subject: Subject) -> Iterator[Finding]:
    """An applied revision whose file no longer holds the content that ran."""
    if subject.ledger is None:
        if subject.ledger_error is not None:
            yield Finding("warning", f"could not read the ledger: {subject.ledger_error}")
        return
    by_revision = {f.record.revision: f for f in subject.files if f.record is not None}
    children: dict[str, set[str]] = {}
    for record in (f.record for f in subject.files if f.record is not None):
        for parent in record.down_revisions:
            children.setdefault(parent, set()).add(record.revision)
    changed = [
        (revision, row, by_revision[revision])
        for revision, row in applied(subject.ledger, children).items()
        if revision in by_revision
        and row["content_hash"] is not None
        and by_revision[revision].blob != row["content_hash"]
        # the same blob, checked out with other line endings (core.autocrlf)?
        and _stored_by_git(by_revision[revision]) != row["content_hash"]
    ]
    if not changed:
        return
    blamed = _blame(subject, [found for _, _, found in changed])
    for revision, row, found in changed:
        started = row["started_at"]
        when = f"on {started:%Y-%m-%d %H:%M} UTC" if started is not None else "at an unknown time"
        yield Finding(
            "error",
            f"revision {revision} changed after it was applied: {found.path} hashes to "
            f"{found.blob}, but {row['content_hash']} ran {when} "
            f"by {row['applied_by']}{_who_changed(blamed.get(revision))}; "
            "restore the file (git checkout) or write a new revision",
        )


def _stored_by_git(found: RevisionFile) -> str | None:
    """The blob git would store for the file, when its line endings could differ; else None."""
    from migrepo.audit.gitblob import might_convert, stored_hash
    from migrepo.errors import GitError

    try:
        data = found.path.read_bytes()
        return stored_hash(found.path, data) if might_convert(data) else None
    except (OSError, GitError):
        return None


def _blame(subject: Subject, files: list[RevisionFile]) -> dict[str, Any]:
    """Blame rows of ``files`` by revision, from the cached walk; empty when git cannot tell."""
    from migrepo.audit.gitrepo import blame
    from migrepo.errors import GitError

    if subject.directory is None:
        return {}
    try:
        report = blame(files, subject.directory, subject.locations)
    except GitError:
        return {}  # the uncommitted-files check reports git's failure
    return {row.revision: row for row in report.rows}


def _who_changed(row: Any) -> str:
    """Which commit changed an applied revision file, as a clause of the finding."""
    if row is None or row.state is None:
        return ""
    if row.state == "modified":
        return ", and the work tree changes it (not committed)"
    if row.last_changed_in is not None:
        commit = row.last_changed_in
        return (
            f"; it was last changed in commit {commit.short_sha} {commit.subject} "
            f"({commit.author}, {commit.date})"
        )
    if row.history_cut_off_at is not None:
        return (
            "; the commit that changed it is not in this shallow clone (its history starts "
            f"at {row.history_cut_off_at.short_sha})"
        )
    return ""


def database_ahead(subject: Subject) -> Iterator[Finding]:
    """The database is at a revision that has no file here (see ``flask db sync``)."""
    from migrepo.audit.sync import explain_missing, latest_hashes

    if subject.database is None or subject.directory is None:
        return
    known = {record.revision for record in subject.records}
    unreadable = any(found.error is not None for found in subject.files)
    hashes = latest_hashes(subject.ledger or [])
    for revision in sorted(subject.database - known):
        if unreadable:  # its file may be the one that does not read: that is reported
            continue
        yield Finding("error", explain_missing(subject.directory, revision, hashes))


def applied(
    rows: list[dict[str, Any]], children: dict[str, set[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """The revisions the ledger says are applied, each with the row that applied it.

    ``rows`` come newest first, as :func:`migrepo.engine.log.ledger_entries` returns them.
    A stamp to a revision un-applies the revisions above it (``children`` maps each
    revision to its children); a stamp to ``base`` un-applies every one.
    """
    state: dict[str, dict[str, Any]] = {}
    for row in reversed(rows):
        if row["outcome"] != "ok":
            continue
        if row["direction"] == "stamp":
            for above in _descendants(row["revision"], children or {}, state):
                state.pop(above, None)
            if row["revision"] != "base":
                state[row["revision"]] = row
        elif row["direction"] == "upgrade":
            state[row["revision"]] = row
        elif row["direction"] == "downgrade":
            state.pop(row["revision"], None)
    return state


def _descendants(
    revision: str, children: dict[str, set[str]], state: dict[str, Any]
) -> set[str]:
    if revision == "base":
        return set(state)
    found: set[str] = set()
    stack = list(children.get(revision, ()))
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, ()))
    return found


CHECKS: list[Callable[[Subject], Iterable[Finding]]] = [
    unreadable_files,
    unsound_graph,
    several_heads,
    heads_file,
    uncommitted_files,
    changed_after_apply,
    database_ahead,
]


def verify(subject: Subject) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(subject)]
