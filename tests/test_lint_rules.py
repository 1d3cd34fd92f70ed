"""``flask db lint``: each rule, on a revision that breaks it and on a safe one.

Rendered offline for the named dialect (``--dialect``): no server is needed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.apps import Project
from tests.lint_helpers import USER_TABLE, line_of, write_ops

CONCURRENT_INDEX = """
with op.get_context().autocommit_block():
    op.create_index("ix_name", "account", ["name"], postgresql_concurrently=True)
"""
SAFE_COLUMN = 'op.add_column("account", sa.Column("email", sa.String(20)))'
UPDATE = 'op.execute(sa.table("account", sa.column("name", sa.String)).update().values(name="x"))'

# rule id -> (dialect, the op that breaks it, a safe counterpart)
CASES: dict[str, tuple[str, str, str]] = {
    "add-not-null-column": (
        "postgresql",
        'op.add_column("account", sa.Column("email", sa.String(20), nullable=False))',
        'op.add_column("account", sa.Column("email", sa.String(20), nullable=False, '
        'server_default=""))',
    ),
    "volatile-default": (
        "postgresql",
        'op.add_column("account", sa.Column("token", sa.Uuid, '
        'server_default=sa.text("gen_random_uuid()")))',
        'op.add_column("account", sa.Column("at", sa.DateTime, server_default=sa.text("now()")))',
    ),
    "set-not-null": (
        "postgresql",
        'op.alter_column("account", "name", nullable=False)',
        'op.alter_column("account", "name", nullable=True)',
    ),
    "type-change-rewrite": (
        "postgresql",
        'op.alter_column("account", "name", type_=sa.Integer, existing_type=sa.String(50))',
        'op.alter_column("account", "name", type_=sa.String(100), existing_type=sa.String(50))',
    ),
    "index-not-concurrent": (
        "postgresql",
        'op.create_index("ix_name", "account", ["name"])',
        CONCURRENT_INDEX,
    ),
    "concurrently-in-transaction": (
        "postgresql",
        'op.create_index("ix_name", "account", ["name"], postgresql_concurrently=True)',
        CONCURRENT_INDEX,
    ),
    "constraint-validates": (
        "postgresql",
        'op.create_check_constraint("ck_name", "account", "name <> \'\'")',
        'op.create_check_constraint("ck_name", "account", "name <> \'\'", '
        "postgresql_not_valid=True)",
    ),
    "drop-table": (
        "postgresql",
        'op.drop_table("account")',
        'op.create_table("other", sa.Column("id", sa.Integer, primary_key=True))',
    ),
    "drop-column": (
        "postgresql",
        'op.drop_column("account", "name")',
        'op.add_column("account", sa.Column("email", sa.String(20)))',
    ),
    "rename-table": (
        "postgresql",
        'op.rename_table("account", "customer")',
        'op.create_table("customer", sa.Column("id", sa.Integer, primary_key=True))',
    ),
    "rename-column": (
        "postgresql",
        'op.alter_column("account", "name", new_column_name="full_name")',
        'op.alter_column("account", "name", comment="the full name")',
    ),
    "mixed-schema-data": (
        "postgresql",
        'op.add_column("account", sa.Column("email", sa.String(20)))\n' + UPDATE,
        UPDATE,
    ),
    "raw-sql": ("postgresql", "op.execute(\"UPDATE account SET name = 'x'\")", UPDATE),
}


def lint_json(proj: Project, *args: str) -> tuple[int, dict[str, Any]]:
    result = proj.run("lint", "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def rules_of(found: dict[str, Any], revision: str = "r2") -> set[str]:
    return {
        f["rule"]
        for f in found["findings"]
        if f["revision"] == revision and not f["suppressed"]
    }


@pytest.fixture
def base(proj: Project) -> Project:
    proj.ok("init")
    write_ops(proj, "r1", None, USER_TABLE)
    return proj


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_finds_the_unsafe_op(base: Project, rule: str) -> None:
    dialect, unsafe, _ = CASES[rule]
    path = write_ops(base, "r2", "r1", unsafe)
    code, found = lint_json(base, "r2", "--dialect", dialect)
    assert rule in rules_of(found)
    assert code == 1 or all(
        f["severity"] == "warning" for f in found["findings"] if not f["suppressed"]
    )
    (finding,) = [f for f in found["findings"] if f["rule"] == rule]
    first_op = unsafe.splitlines()[-1 if rule == "mixed-schema-data" else 0].strip()[:20]
    assert finding["line"] == line_of(path, first_op)
    assert finding["file"] == str(path)
    assert finding["why"] and finding["fix"] and dialect in finding["databases"]
    if rule not in ("raw-sql", "mixed-schema-data"):
        assert finding["table"] == "account"


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_passes_the_safe_counterpart(base: Project, rule: str) -> None:
    dialect, _, safe = CASES[rule]
    write_ops(base, "r2", "r1", safe)
    _, found = lint_json(base, "r2", "--dialect", dialect)
    assert rule not in rules_of(found)


def test_irreversible_downgrade(base: Project) -> None:
    write_ops(base, "r2", "r1", 'op.add_column("account", sa.Column("e", sa.Text))', "pass")
    write_ops(
        base, "r3", "r2", 'op.add_column("account", sa.Column("f", sa.Text))',
        'op.drop_column("account", "f")',
    )
    _, found = lint_json(base, "r2", "r3", "--dialect", "postgresql")
    assert "irreversible-downgrade" in rules_of(found, "r2")
    assert "irreversible-downgrade" not in rules_of(found, "r3")
    path = base.migrations / "versions" / "r2_x.py"
    no_downgrade = path.read_text().split("\n\ndef downgrade")[0] + "\n"
    path.write_text(no_downgrade)
    _, found = lint_json(base, "r2", "--dialect", "postgresql")
    (finding,) = [f for f in found["findings"] if f["rule"] == "irreversible-downgrade"]
    assert "no downgrade()" in finding["message"]


def test_a_merge_has_nothing_to_undo(base: Project) -> None:
    write_ops(base, "b1", "r1", SAFE_COLUMN, 'op.drop_column("account", "email")')
    write_ops(base, "b2", "r1", "pass", "pass")
    write_ops(base, "m1", ("b1", "b2"), "pass", "pass")
    _, found = lint_json(base, "b2", "m1", "--dialect", "postgresql")
    assert found["findings"] == []


def test_new_tables_are_not_existing_tables(base: Project) -> None:
    """Indexes, NOT NULL columns and constraints on a table this revision creates are safe."""
    write_ops(
        base,
        "r2",
        "r1",
        """
        op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True))
        op.add_column("fresh", sa.Column("code", sa.String(5), nullable=False))
        op.create_index("ix_fresh_code", "fresh", ["code"])
        op.create_unique_constraint("uq_fresh_code", "fresh", ["code"])
        """,
    )
    _, found = lint_json(base, "r2", "--dialect", "postgresql")
    assert rules_of(found) == set()


def test_unique_and_foreign_key_constraints(base: Project) -> None:
    write_ops(
        base,
        "r2",
        "r1",
        """
        op.create_unique_constraint("uq_name", "account", ["name"])
        op.create_foreign_key("fk_self", "account", "account", ["id"], ["id"])
        op.create_foreign_key(
            "fk_later", "account", "account", ["id"], ["id"], postgresql_not_valid=True
        )
        """,
    )
    _, found = lint_json(base, "r2", "--dialect", "postgresql")
    details = sorted(
        f["message"] for f in found["findings"] if f["rule"] == "constraint-validates"
    )
    assert len(details) == 2
    assert "ForeignKeyConstraint" in details[0] and "UniqueConstraint" in details[1]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [("postgresql", True), ("mysql", False), ("sqlite", False)],
)
def test_index_rules_are_postgresql_only(base: Project, dialect: str, expected: bool) -> None:
    write_ops(base, "r2", "r1", CASES["index-not-concurrent"][1])
    _, found = lint_json(base, "r2", "--dialect", dialect)
    assert ("index-not-concurrent" in rules_of(found)) is expected


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [("postgresql", False), ("mysql", True), ("sqlite", False)],
)
def test_varchar_to_text_differs_by_database(base: Project, dialect: str, expected: bool) -> None:
    """PostgreSQL changes VARCHAR to TEXT in place; MySQL copies the table; SQLite's
    batch mode recreates tables anyway, so the rule does not apply there."""
    write_ops(
        base, "r2", "r1", 'op.alter_column("account", "name", type_=sa.Text, '
        "existing_type=sa.String(50))",
    )
    _, found = lint_json(base, "r2", "--dialect", dialect)
    assert ("type-change-rewrite" in rules_of(found)) is expected


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_not_null_column_applies_everywhere(base: Project, dialect: str) -> None:
    write_ops(base, "r2", "r1", CASES["add-not-null-column"][1])
    code, found = lint_json(base, "r2", "--dialect", dialect)
    assert "add-not-null-column" in rules_of(found) and code == 1
    assert found["dialect"] == dialect


def test_the_app_database_is_the_default_dialect(base: Project) -> None:
    write_ops(base, "r2", "r1", CASES["index-not-concurrent"][1])
    _, found = lint_json(base, "r2")
    assert found["dialect"] == "sqlite"
    assert "index-not-concurrent" not in rules_of(found)


BATCH = """
with op.batch_alter_table("account") as batch_op:
    batch_op.drop_column("name")
    batch_op.create_unique_constraint("uq_id", ["id"])
"""


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_batch_operations_are_checked(base: Project, dialect: str) -> None:
    """On SQLite a batch would recreate the table, which offline mode cannot do without
    copy_from; lint checks the batch's own operations instead."""
    path = write_ops(base, "r2", "r1", BATCH)
    assert base.run("upgrade", "--sql", "r1:r2").exit_code != 0  # Alembic refuses on SQLite
    _, found = lint_json(base, "r2", "--dialect", dialect)
    (drop,) = [f for f in found["findings"] if f["rule"] == "drop-column"]
    assert (drop["table"], drop["column"]) == ("account", "name")
    assert drop["line"] == line_of(path, "batch_alter_table")
    assert ("constraint-validates" in rules_of(found)) is (dialect == "postgresql")


def test_batch_copy_is_not_a_dropped_table(base: Project) -> None:
    write_ops(
        base,
        "r2",
        "r1",
        """
        account = sa.Table(
            "account",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(50)),
        )
        with op.batch_alter_table("account", copy_from=account, recreate="always") as batch_op:
            batch_op.alter_column("name", nullable=True)
        """,
    )
    _, found = lint_json(base, "r2", "--dialect", "sqlite")
    assert rules_of(found) == set()
    shown = json.loads(base.ok("sql", "r2", "--format", "json").stdout)
    assert "batch_recreate" in {row["op"] for row in shown}
