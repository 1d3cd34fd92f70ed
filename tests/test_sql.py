"""``flask db sql``: one revision's SQL, rendered offline."""

from __future__ import annotations

import json
import re

import pytest

from tests.apps import Project
from tests.lint_helpers import USER_TABLE, line_of, write_ops

LEDGER_TIMES = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?', \d+, 'ok'")


def same_script(text: str) -> str:
    """The script with the ledger row's start time and duration masked."""
    return LEDGER_TIMES.sub("'<when>', 0, 'ok'", text)


@pytest.fixture
def three(proj: Project) -> Project:
    proj.ok("init")
    write_ops(proj, "r1", None, USER_TABLE, 'op.drop_table("account")')
    write_ops(
        proj,
        "r2",
        "r1",
        'op.add_column("account", sa.Column("email", sa.String(120)))',
        'op.drop_column("account", "email")',
    )
    write_ops(
        proj,
        "r3",
        "r2",
        'op.create_index("ix_account_email", "account", ["email"])',
        'op.drop_index("ix_account_email", "account")',
    )
    return proj


@pytest.mark.parametrize(
    ("sql_args", "upgrade_args"),
    [
        (("r2",), ("upgrade", "--sql", "r1:r2")),
        (("r1:r3",), ("upgrade", "--sql", "r1:r3")),
        (("r1",), ("upgrade", "--sql", "base:r1")),
        (("--down", "r3"), ("downgrade", "--sql", "r3:r2")),
        (("--down", "r3:r1"), ("downgrade", "--sql", "r3:r1")),
    ],
)
def test_text_is_what_upgrade_sql_prints(
    three: Project, sql_args: tuple[str, ...], upgrade_args: tuple[str, ...]
) -> None:
    shown = three.ok("sql", *sql_args).stdout
    printed = three.ok(*upgrade_args).stdout
    assert same_script(shown) == same_script(printed)
    assert "-- Running" in shown


def test_dialect_renders_without_connecting(three: Project) -> None:
    shown = three.ok("sql", "r3", "--dialect", "postgresql").stdout
    assert "BEGIN;" in shown  # PostgreSQL: transactional DDL
    assert 'CREATE INDEX ix_account_email ON account (email);' in shown
    mysql = three.ok("sql", "r2", "--dialect", "mysql").stdout
    assert "ALTER TABLE account ADD COLUMN email VARCHAR(120);" in mysql
    assert three.tables() == set()  # nothing was created, not even the version table


def test_json_gives_each_statement_its_op_and_line(three: Project) -> None:
    rows = json.loads(three.ok("sql", "r3", "--format", "json").stdout)
    path = three.migrations / "versions" / "r3_x.py"
    assert rows == [
        {
            "revision": "r3",
            "direction": "upgrade",
            "statement": "CREATE INDEX ix_account_email ON account (email);",
            "file": str(path),
            "line": line_of(path, "op.create_index"),
            "op": "create_index",
            "table": "account",
            "autocommit": False,
        }
    ]
    down = json.loads(three.ok("sql", "r2", "--down", "--format", "json").stdout)
    assert [(r["direction"], r["op"], r["statement"]) for r in down] == [
        ("downgrade", "drop_column", "ALTER TABLE account DROP COLUMN email;")
    ]


def test_a_merge_revision_runs_alone(three: Project) -> None:
    write_ops(three, "b1", "r1", 'op.add_column("account", sa.Column("age", sa.Integer))')
    write_ops(three, "m1", ("r3", "b1"), "pass")
    shown = three.ok("sql", "m1").stdout
    assert "-- Running upgrade r3, b1 -> m1" in shown
    assert "ADD COLUMN" not in shown


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nope",), "nope"),
        (("r2", "--dialect", "oracle9"), "unknown --dialect 'oracle9'"),
    ],
)
def test_bad_input_is_one_line(three: Project, args: tuple[str, ...], expected: str) -> None:
    result = three.run("sql", *args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert expected in result.output
    assert three.tables() == set()
