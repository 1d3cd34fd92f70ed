"""What one run adds to every ``context.configure()`` call env.py makes.

The :class:`Hooks` of a run sit in its Config's ``attributes`` under
:data:`HOOKS`, and the run's EnvironmentContext merges them into the keywords
env.py passes (see :mod:`migrepo.engine.run`): the ledger recorder, the filter
that hides the ledger table from autogenerate, revision directives and the
transaction mode. The user's own callbacks run first, then migrepo's; no
keyword is ever passed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrepo.db.ledger import Recorder

# The key of the run's hooks in ``config.attributes``.
HOOKS = "migrepo.hooks"


@dataclass
class Hooks:
    """What one run adds to every ``context.configure()`` call.

    ``transaction_per_migration`` None leaves env.py's own value (or
    Alembic's default) alone.
    """

    ledger_table: str | None = None
    recorder: Recorder | None = None
    transaction_per_migration: bool | None = None
    # True when --single-transaction or MIGREPO_SINGLE_TRANSACTION chose the mode:
    # it then wins over a value env.py passes; otherwise env.py's own value wins.
    transaction_mode_given: bool = False
    process_revision_directives: tuple[Callable[..., None], ...] = ()
    # Offline runs only: render for this dialect (``postgresql``, ``mysql``, ...)
    # instead of the app's database.
    dialect: str | None = None
    # Called with each MigrationContext right after ``configure()`` made it.
    after_configure: tuple[Callable[[Any], None], ...] = ()
    # Multi-database offline runs write <bind>.sql files, unless a capture records the SQL.
    write_sql_files: bool = True

    def merge(self, kw: dict[str, Any]) -> dict[str, Any]:
        """The keywords of one ``configure()`` call, with this run's hooks added."""
        merged = dict(kw)
        if self.ledger_table is not None:
            merged["include_object"] = _hide_table(self.ledger_table, kw.get("include_object"))
        if self.recorder is not None:
            merged["on_version_apply"] = (*_as_tuple(kw.get("on_version_apply")), self.recorder)
        if self.process_revision_directives:
            merged["process_revision_directives"] = _chain_directives(
                kw.get("process_revision_directives"), self.process_revision_directives
            )
        if self.transaction_per_migration is not None:
            if self.transaction_mode_given:
                merged["transaction_per_migration"] = self.transaction_per_migration
            else:
                merged.setdefault("transaction_per_migration", self.transaction_per_migration)
        if self.dialect is not None:
            merged.pop("connection", None)
            merged.pop("dialect_name", None)
            merged["url"] = f"{self.dialect}://"
        return merged


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if callable(value):
        return (value,)
    return tuple(value)


def _hide_table(
    table_name: str, user_filter: Callable[..., bool] | None
) -> Callable[..., bool]:
    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and name == table_name:
            return False
        if user_filter is not None:
            return user_filter(obj, name, type_, reflected, compare_to)
        return True

    return include_object


def _chain_directives(
    user: Callable[..., None] | None, ours: tuple[Callable[..., None], ...]
) -> Callable[..., None]:
    def process_revision_directives(context: Any, revision: Any, directives: Any) -> None:
        for hook in (user, *ours):
            if hook is not None:
                hook(context, revision, directives)

    return process_revision_directives
