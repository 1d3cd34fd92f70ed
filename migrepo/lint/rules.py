"""The lint rules: what each one finds in a revision's captured operations.

Each :class:`Rule` says which databases it applies to, why the operation is
unsafe on a live database, and the safer way. The checks read the
SQLAlchemy objects Alembic received (see :mod:`migrepo.lint.capture`),
never the rendered SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from migrepo.lint.capture import DDL_KINDS, Operation

ALL = ("postgresql", "mysql", "mariadb", "sqlite")
PG = ("postgresql",)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # "error" or "warning"
    databases: tuple[str, ...]
    summary: str
    why: str
    fix: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "add-not-null-column",
            "error",
            ALL,
            "NOT NULL column added without a server default",
            "The rows already in the table have no value for it: PostgreSQL and SQLite "
            "refuse the ALTER on a table with rows; MySQL/MariaDB fill in an implicit "
            "zero or empty string silently.",
            "Add the column nullable (or with a server_default), backfill it, then make it "
            "NOT NULL in a later revision.",
        ),
        Rule(
            "volatile-default",
            "error",
            PG,
            "added column with a volatile default",
            "PostgreSQL 11+ adds a column with a constant default without touching the rows, "
            "but a volatile default (random(), gen_random_uuid(), clock_timestamp(), "
            "nextval()) rewrites the whole table under an ACCESS EXCLUSIVE lock. (MySQL 8 "
            "copies the table for any expression default.)",
            "Add the column without a default, set the default with alter_column, and "
            "backfill existing rows in batches.",
        ),
        Rule(
            "set-not-null",
            "error",
            PG,
            "SET NOT NULL on an existing column",
            "PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock to check the "
            "rows. (MySQL/MariaDB rebuild the table; SQLite recreates it in batch mode.)",
            "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later revision "
            "(a weaker lock), then SET NOT NULL: PostgreSQL 12+ uses the valid check and "
            "skips the scan; drop the check after.",
        ),
        Rule(
            "type-change-rewrite",
            "error",
            ("postgresql", "mysql", "mariadb"),
            "column type change that rewrites the table",
            "Changing a column's type rewrites the table and its indexes under an ACCESS "
            "EXCLUSIVE lock on PostgreSQL, and copies the table on MySQL/MariaDB; only "
            "widening a VARCHAR (or VARCHAR to TEXT on PostgreSQL) is cheap. Without "
            "existing_type migrepo cannot tell which it is.",
            "Add a new column of the new type, backfill it, switch the code over, then drop "
            "the old column; or give existing_type when the change only widens a VARCHAR.",
        ),
        Rule(
            "index-not-concurrent",
            "error",
            PG,
            "CREATE INDEX without CONCURRENTLY on an existing table",
            "A plain CREATE INDEX blocks every write to the table until the index is built. "
            "(MySQL/MariaDB InnoDB build indexes online; SQLite has one writer anyway.)",
            "op.create_index(..., postgresql_concurrently=True) inside "
            "`with op.get_context().autocommit_block():`.",
        ),
        Rule(
            "concurrently-in-transaction",
            "error",
            PG,
            "CONCURRENTLY outside autocommit_block()",
            "CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block: the "
            "migration fails.",
            "Run the operation inside `with op.get_context().autocommit_block():`.",
        ),
        Rule(
            "constraint-validates",
            "error",
            PG,
            "constraint added with a full validation",
            "Adding a foreign key or check constraint scans the whole table while holding a "
            "lock that blocks writes (a foreign key locks the referenced table too); a "
            "unique constraint builds its index under that lock.",
            "Foreign key and check: add it with postgresql_not_valid=True, then run "
            "ALTER TABLE ... VALIDATE CONSTRAINT in a later revision. Unique: create a "
            "unique index CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX.",
        ),
        Rule(
            "drop-table",
            "error",
            ALL,
            "DROP TABLE",
            "The data is gone, and code still deployed may read the table.",
            "Stop reading and writing the table in one release, drop it in a later one; "
            "take a backup first.",
        ),
        Rule(
            "drop-column",
            "error",
            ALL,
            "DROP COLUMN",
            "The data is gone, and code still deployed may read the column (SQLAlchemy "
            "selects every mapped column).",
            "Remove the column from the models first (deferred or unmapped), deploy, then "
            "drop it in a later revision.",
        ),
        Rule(
            "rename-table",
            "error",
            ALL,
            "table renamed",
            "Code still deployed uses the old name and fails until the new code is out.",
            "Create the new table, write to both, backfill, switch reads, then drop the old "
            "one; or use a view with the old name during the deploy.",
        ),
        Rule(
            "rename-column",
            "error",
            ALL,
            "column renamed",
            "Code still deployed uses the old name and fails until the new code is out.",
            "Add a new column, write to both, backfill, switch reads, then drop the old one.",
        ),
        Rule(
            "irreversible-downgrade",
            "warning",
            ALL,
            "downgrade is missing or only `pass`",
            "`flask db downgrade` would move the version back without undoing the change.",
            "Write the downgrade, or raise an error in it saying why it cannot be undone.",
        ),
        Rule(
            "mixed-schema-data",
            "warning",
            ALL,
            "schema and data changes in one revision",
            "On PostgreSQL the data change holds the schema change's locks for its whole "
            "length; on MySQL/MariaDB and SQLite DDL commits implicitly, so a failure leaves "
            "half a revision applied.",
            "Put the data change (backfill) in a revision of its own.",
        ),
        Rule(
            "raw-sql",
            "warning",
            ALL,
            "raw SQL in op.execute (unchecked)",
            "migrepo does not parse SQL strings, so none of the other rules checked it.",
            "Prefer op.* operations; review the statement by hand, then allow it with a "
            "reason.",
        ),
        Rule(
            "bad-suppression",
            "error",
            ALL,
            "`# migrepo: allow` without a reason or with an unknown rule",
            "A suppression must say why the operation is safe, for the next reader.",
            "Write `# migrepo: allow <rule-id> -- <reason>` on the op line or the line above.",
        ),
    )
}

VOLATILE = (
    "random(",
    "gen_random_uuid(",
    "uuid_generate_v1(",
    "uuid_generate_v4(",
    "clock_timestamp(",
    "timeofday(",
    "nextval(",
    "txid_current(",
)
DDL = frozenset(DDL_KINDS)


@dataclass
class Hit:
    """A rule that matched an operation (or a revision, when ``op`` is None)."""

    rule: str
    op: Operation | None
    detail: str = ""


def check_revision(ops: list[Operation], dialect: str) -> Iterator[Hit]:
    """The rules the upgrade operations of one revision break, in order."""
    created: set[str] = set()
    for op in ops:
        new_table = op.table in created
        if op.kind == "create_table" and op.table:
            created.add(op.table)
        yield from _check(op, dialect, new_table)
    kinds = [_data_or_ddl(op, leading_keyword=True) for op in ops]
    if "data" in kinds and "ddl" in kinds:
        first = ops[kinds.index("data")]
        yield Hit("mixed-schema-data", first)


def _check(op: Operation, dialect: str, new_table: bool) -> Iterator[Hit]:
    a = op.arguments
    if op.kind == "add_column" and not new_table:
        column = a.get("column")
        default = getattr(column, "server_default", None)
        if column is not None and not column.nullable and default is None:
            yield Hit("add-not-null-column", op)
        if default is not None and _volatile(default):
            yield Hit("volatile-default", op)
    elif op.kind == "alter_column" and not new_table:
        if a.get("nullable") is False and a.get("existing_nullable") is not False:
            yield Hit("set-not-null", op)
        if a.get("type_") is not None and not _cheap_type_change(
            a.get("existing_type"), a["type_"], dialect
        ):
            yield Hit("type-change-rewrite", op)
        if a.get("name") is not None and a.get("name") != a.get("column_name"):
            yield Hit("rename-column", op)
    elif op.kind in ("create_index", "drop_index"):
        index = a.get("index")
        concurrently = bool(_option(index, "postgresql", "concurrently")) or bool(
            a.get("postgresql_concurrently")
        )
        if op.kind == "create_index" and not new_table and not concurrently:
            yield Hit("index-not-concurrent", op)
        if concurrently and not op.autocommit:
            yield Hit("concurrently-in-transaction", op)
    elif op.kind == "add_constraint" and not new_table:
        const = a.get("const")
        name = type(const).__name__
        if name in ("ForeignKeyConstraint", "CheckConstraint"):
            if not _option(const, "postgresql", "not_valid"):
                yield Hit("constraint-validates", op, name)
        elif name == "UniqueConstraint":
            yield Hit("constraint-validates", op, name)
    elif op.kind == "drop_table":
        yield Hit("drop-table", op)
    elif op.kind == "drop_column":
        yield Hit("drop-column", op)
    elif op.kind == "rename_table":
        yield Hit("rename-table", op)
    elif op.kind == "execute" and _data_or_ddl(op) == "raw":
        yield Hit("raw-sql", op)


def _option(item: Any, dialect: str, name: str) -> Any:
    try:
        return item.dialect_options[dialect][name]
    except (AttributeError, KeyError, TypeError):
        return None


def _volatile(default: Any) -> bool:
    arg = getattr(default, "arg", default)
    text = str(getattr(arg, "text", arg)).lower().replace(" ", "")
    if not isinstance(arg, str) and hasattr(arg, "name") and not hasattr(arg, "text"):
        text = f"{arg.name}(".lower()  # a func.* element
    return any(name in text for name in VOLATILE)


def _cheap_type_change(old: Any, new: Any, dialect: str) -> bool:
    """Only widening a VARCHAR is known not to rewrite the table."""
    import sqlalchemy as sa

    if old is None:
        return False
    if isinstance(old, type):
        old = old()
    if isinstance(new, type):
        new = new()
    if not isinstance(old, sa.String) or isinstance(old, sa.Enum):
        return False
    if dialect == "postgresql" and isinstance(new, sa.Text):
        return True
    if type(new) is not type(old) or isinstance(old, sa.Text):
        return False
    if new.length is None:
        return dialect == "postgresql"
    return old.length is not None and new.length >= old.length


def _data_or_ddl(op: Operation, *, leading_keyword: bool = False) -> str:
    """"ddl", "data", "raw" (a SQL string) or "other".

    With ``leading_keyword``, a SQL string that starts with INSERT, UPDATE or
    DELETE counts as data (its first word only: the SQL is not parsed).
    """
    if op.kind in DDL:
        return "ddl"
    if op.kind == "bulk_insert":
        return "data"
    if op.kind != "execute":
        return "other"
    sql = op.arguments.get("sql")
    if isinstance(sql, str) or type(sql).__name__ == "TextClause":
        words = str(getattr(sql, "text", sql)).split(None, 1)
        if leading_keyword and words and words[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            return "data"
        return "raw"
    if type(sql).__name__ in ("Insert", "Update", "Delete"):
        return "data"
    return "ddl" if hasattr(sql, "element") else "other"
