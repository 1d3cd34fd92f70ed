"""`flask db drift`: the live database against its history replayed in a throwaway one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.apps import Project, project
from tests.test_dbtest import (
    ADD_EMAIL,
    CREATE_USER,
    DROP_EMAIL,
    DROP_USER,
    fingerprint,
    revision,
)
from tests.test_dbtest import history as plain_history

INDEX_NAME = '    op.create_index("ix_user_name", "user", ["name"])'
CREATE_NOTE = '    op.create_table("note", sa.Column("id", sa.Integer(), primary_key=True))'


@pytest.fixture
def db_args(db_url: str) -> tuple[str, ...]:
    return () if db_url.startswith("sqlite") else ("--create-db",)


def history(proj: Project) -> None:
    proj.ok("init")
    revision(proj, "r1", None, CREATE_USER + "\n" + INDEX_NAME, DROP_USER)
    revision(proj, "r2", "r1", ADD_EMAIL, DROP_EMAIL)
    proj.ok("upgrade")


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def drift(proj: Project, *args: str) -> tuple[int, dict[str, object]]:
    result = proj.run("drift", "--format", "json", *args, app=proj.app(email=True))
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_clean_database_has_no_drift(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj)
    before = fingerprint(any_proj)
    result = any_proj.ok("drift", *db_args, app=any_proj.app(email=True))
    assert result.stdout == "No drift: the database matches its history at r2.\n"
    assert fingerprint(any_proj) == before
    code, found = drift(any_proj, *db_args)
    assert code == 0 and found == {"drift": False, "revisions": ["r2"], "differences": []}


def test_manual_changes_are_drift(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj)
    execute(
        any_proj.url,
        'ALTER TABLE "user" ADD COLUMN age INTEGER',
        "DROP INDEX ix_user_name",
    )
    before = fingerprint(any_proj)
    result = any_proj.run("drift", *db_args, app=any_proj.app(email=True))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "Drift: 2 difference(s) from the history replayed to r2:",
        "  extra column: user.age",
        "  missing index: user.ix_user_name",
    ]
    assert fingerprint(any_proj) == before  # read, never written


def test_a_deleted_revisions_leftover_table(any_proj: Project, db_args: tuple[str, ...]) -> None:
    any_proj.ok("init")
    revision(any_proj, "r1", None, CREATE_USER, DROP_USER)
    revision(any_proj, "r2", "r1", CREATE_NOTE, '    op.drop_table("note")')
    revision(any_proj, "r3", "r2", ADD_EMAIL, DROP_EMAIL)
    any_proj.ok("upgrade")
    # r2 is deleted by hand and r3 rewired onto r1: the database keeps r2's table.
    (any_proj.migrations / "versions" / "r2_x.py").unlink()
    revision(any_proj, "r3", "r1", ADD_EMAIL, DROP_EMAIL)
    code, found = drift(any_proj, *db_args)
    assert code == 1
    assert found["differences"] == [
        {"kind": "extra table", "name": "note", "live": None, "history": None, "bind": None}
    ]


def test_a_revision_without_a_file_is_an_error(proj: Project) -> None:
    history(proj)
    execute(proj.url, "UPDATE alembic_version SET version_num = 'gone'")
    result = proj.run("drift", app=proj.app(email=True))
    assert result.exit_code == 2
    assert "the database is at revision gone, which has no file in" in result.output


@pytest.mark.postgres
def test_columns_and_constraints_on_postgres(tmp_path: Path, pg_url: str) -> None:
    with project(tmp_path, pg_url) as proj:
        history(proj)
        execute(
            pg_url,
            'ALTER TABLE "user" ALTER COLUMN name SET NOT NULL',
            "ALTER TABLE \"user\" ALTER COLUMN name SET DEFAULT 'x'",
            'ALTER TABLE "user" ALTER COLUMN email_address TYPE VARCHAR(200)',
            'ALTER TABLE "user" ADD CONSTRAINT positive CHECK (id > 0)',
            'ALTER TABLE "user" ADD CONSTRAINT uq_email UNIQUE (email_address)',
        )
        code, found = drift(proj, "--create-db")
    assert code == 1
    kinds = {(d["kind"], d["name"]) for d in found["differences"]}  # type: ignore[union-attr,index]
    assert kinds == {
        ("nullable", "user.name"),
        ("server default", "user.name"),
        ("type", "user.email_address"),
        ("check constraints", "user"),
        ("extra unique constraint", "user.uq_email"),
    }


def test_every_bind_of_a_multidb_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'main.db'}"
    binds = {"users": f"sqlite:///{tmp_path / 'users.db'}"}
    with project(tmp_path, url, binds=binds) as proj:
        proj.ok("init", "--multidb")
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        proj.ok("upgrade")
        assert proj.ok("drift").stdout.startswith("No drift")
        execute(binds["users"], "CREATE TABLE stray (id INTEGER)")
        result = proj.run("drift")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == ["  [users] extra table: stray"]


@pytest.mark.mariadb
def test_mariadb_test_and_drift_on_a_scratch_database(tmp_path: Path, mysql_url: str) -> None:
    with project(tmp_path, mysql_url) as proj:
        plain_history(proj)  # the models match it
        proj.ok("upgrade")
        before = fingerprint(proj)
        result = proj.ok("test", "--create-db", app=proj.app(email=True))
        assert result.stdout.splitlines()[-1] == "6 passed"
        assert proj.ok("drift", "--create-db", app=proj.app(email=True)).stdout.startswith(
            "No drift"
        )
        assert fingerprint(proj) == before
        execute(mysql_url, "ALTER TABLE `user` ADD COLUMN age INTEGER")
        code, found = drift(proj, "--create-db")
    assert code == 1
    assert [(d["kind"], d["name"]) for d in found["differences"]] == [  # type: ignore[union-attr,index]
        ("extra column", "user.age")
    ]
