"""One frozen options object per command.

``flask db`` fills them from its click options (see ``migrepo.cli._options``),
the Flask-Migrate style API functions in :mod:`migrepo._api` from their
parameters, and the engine's commands take them by keyword. Adding an option
touches its click decorator and one field here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

Directory = str | os.PathLike[str] | None
XArg = str | Sequence[str] | None


@dataclass(frozen=True)
class InitOptions:
    directory: Directory = None
    multidb: bool = False
    template: str | None = None
    package: bool = False


@dataclass(frozen=True)
class RevisionOptions:
    directory: Directory = None
    message: str | None = None
    autogenerate: bool = False
    sql: bool = False
    head: str = "head"
    splice: bool = False
    branch_label: str | None = None
    version_path: str | None = None
    rev_id: str | None = None
    x_arg: XArg = None


@dataclass(frozen=True)
class MergeOptions:
    directory: Directory = None
    revisions: str | Sequence[str] = ""
    message: str | None = None
    branch_label: str | None = None
    rev_id: str | None = None


@dataclass(frozen=True)
class EditOptions:
    directory: Directory = None
    revision: str = "current"


@dataclass(frozen=True, kw_only=True)
class ChangeOptions:
    """What every command that changes the database takes besides its own options,
    by keyword: env.py's ``-x`` arguments, and the migration lock's timeout and the
    transaction mode (see :meth:`Run.moving <migrepo.engine.run.Run.moving>`)."""

    x_arg: XArg = None
    lock_timeout: float | None = None
    single_transaction: bool | None = None


@dataclass(frozen=True)
class MoveOptions(ChangeOptions):
    """``upgrade`` and ``downgrade``; ``revision`` None is each command's default."""

    directory: Directory = None
    revision: str | None = None
    sql: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class StampOptions(ChangeOptions):
    directory: Directory = None
    revision: str | Sequence[str] = "head"
    sql: bool = False
    tag: str | None = None
    purge: bool = False


@dataclass(frozen=True)
class CheckOptions:
    directory: Directory = None
    x_arg: XArg = None


@dataclass(frozen=True)
class ShowOptions:
    directory: Directory = None
    revision: str = "head"


@dataclass(frozen=True)
class HistoryOptions:
    directory: Directory = None
    rev_range: str | None = None
    verbose: bool = False
    indicate_current: bool = False
    x_arg: XArg = None


@dataclass(frozen=True)
class HeadsOptions:
    directory: Directory = None
    verbose: bool = False
    resolve_dependencies: bool = False


@dataclass(frozen=True)
class BranchesOptions:
    directory: Directory = None
    verbose: bool = False


@dataclass(frozen=True)
class CurrentOptions:
    directory: Directory = None
    verbose: bool = False
    x_arg: XArg = None


@dataclass(frozen=True)
class SyncOptions(ChangeOptions):
    directory: Directory = None
    dry_run: bool = False


@dataclass(frozen=True)
class RebaseOptions:
    directory: Directory = None
    revision: str | None = None  # the head to move; None: chosen (see migrepo.engine.rebase)
    onto: str | None = None  # the head to move it onto; None: the other head
    dry_run: bool = False
