"""`flask db test`: each check catches its planted defect, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from tests.apps import Project, project, revision_text
from tests.test_failures import FLASK_MIGRATE_ENV

CREATE_USER = """\
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )"""
DROP_USER = '    op.drop_table("user")'
ADD_EMAIL = """\
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("email_address", sa.String(length=120), nullable=True))"""
DROP_EMAIL = """\
    with op.batch_alter_table("user") as batch:
        batch.drop_column("email_address")"""
DROP_NAME = """\
    with op.batch_alter_table("user") as batch:
        batch.drop_column("name")"""
INSERT_ROW = """\
    op.execute(sa.text('INSERT INTO "user" (id, name) VALUES (1, \\'first\\')'))"""

def revision(proj: Project, rev: str, down: str | None, upgrade: str, downgrade: str) -> None:
    text = revision_text(rev, down, upgrade, downgrade)
    (proj.migrations / "versions" / f"{rev}_x.py").write_text(text, encoding="utf-8")


def history(proj: Project, *, email_down: str = DROP_EMAIL, email_up: str = ADD_EMAIL) -> None:
    """r1 creates user, r2 adds user.email_address; the models are at r2."""
    proj.ok("init")
    revision(proj, "r1", None, CREATE_USER, DROP_USER)
    revision(proj, "r2", "r1", email_up, email_down)


def run_test(proj: Project, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = proj.run("test", "--format", "json", *args, app=proj.app(email=True))
    assert "Traceback" not in result.output
    found = json.loads(result.stdout)
    keyed = {f"{c['check']}:{c['revision'] or ''}": c for c in reversed(found["checks"])}
    return result.exit_code, keyed  # the first outcome of each check and revision


@pytest.fixture
def db_args(db_url: str) -> tuple[str, ...]:
    """The `flask db test` options for the database of `any_proj`."""
    return () if db_url.startswith("sqlite") else ("--create-db",)


def fingerprint(proj: Project) -> object:
    """What the app's database holds: the file's bytes, or PostgreSQL's tables and version."""
    if proj.url.startswith("sqlite"):
        path = Path(proj.url.removeprefix("sqlite:///"))
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    return proj.tables(), proj.version()


def test_a_clean_history_passes(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj)
    any_proj.ok("upgrade", "r1")
    before = fingerprint(any_proj)
    result = any_proj.ok("test", *db_args, app=any_proj.app(email=True))
    lines = result.output.strip().splitlines()
    assert [line for line in lines if line.startswith(("ok", "FAIL", "SKIP"))] == [
        "ok   single-head r2",
        "ok   upgrade",
        "ok   model-match",
        "ok   stairway r1",
        "ok   stairway r2",
        "ok   round-trip",
    ]
    assert lines[-1] == "6 passed"
    assert fingerprint(any_proj) == before
    assert any_proj.version() == {"r1"}


def test_two_heads(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj)
    revision(any_proj, "r3", "r1", "    pass", "    pass")
    code, found = run_test(any_proj, *db_args)
    assert code == 1
    assert found["single-head:r3"]["passed"] is False
    assert "2 heads (r2, r3)" in str(found["single-head:r3"]["reason"])
    assert found["upgrade:"]["passed"] is True


def test_a_pass_downgrade(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj, email_down="    pass")
    code, found = run_test(any_proj, *db_args)
    assert code == 1
    # Caught on the way from the heads down to base, before the stairway climbs up.
    failed = found["stairway:r2"]
    assert failed["passed"] is False
    assert failed["reason"] == (
        "downgrading from the heads to base, the downgrade of r2 does not undo its upgrade: "
        "extra column user.email_address"
    )
    assert found["round-trip:"]["skipped"] is True


def test_a_downgrade_dropping_the_wrong_column(
    any_proj: Project, db_args: tuple[str, ...]
) -> None:
    history(any_proj, email_down=DROP_NAME)
    code, found = run_test(any_proj, *db_args)
    assert code == 1
    reason = str(found["stairway:r2"]["reason"])
    assert "column user.name missing" in reason and "extra column user.email_address" in reason


def test_a_model_change_without_a_revision(any_proj: Project, db_args: tuple[str, ...]) -> None:
    any_proj.ok("init")
    revision(any_proj, "r1", None, CREATE_USER, DROP_USER)
    code, found = run_test(any_proj, *db_args)  # the models have user.email_address
    assert code == 1
    assert found["model-match:"]["passed"] is False
    assert "add_column user.email_address" in str(found["model-match:"]["reason"])
    assert found["stairway:r1"]["passed"] is True


def test_a_revision_failing_on_re_upgrade(any_proj: Project, db_args: tuple[str, ...]) -> None:
    history(any_proj)
    revision(any_proj, "r3", "r2", INSERT_ROW, "    pass")  # leaves its row behind
    code, found = run_test(any_proj, *db_args)
    assert code == 1
    assert found["stairway:r2"]["passed"] is True
    reason = str(found["stairway:r3"]["reason"])
    assert reason.startswith("upgrade again failed: IntegrityError"), reason


def test_a_failing_upgrade_names_its_revision(proj: Project) -> None:
    history(proj)
    revision(proj, "r3", "r2", '    op.drop_table("no_such_table")', "    pass")
    code, found = run_test(proj)
    assert code == 1
    assert found["upgrade:r3"]["passed"] is False
    assert all(found[f"stairway:{r}"]["skipped"] for r in ("r1", "r2", "r3"))


def test_text_output_and_exit_status(proj: Project) -> None:
    history(proj, email_down="    pass")
    result = proj.run("test", app=proj.app(email=True))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ok   single-head r2",
        "ok   upgrade",
        "ok   model-match",
        "FAIL stairway r2: downgrading from the heads to base, the downgrade of r2 does not "
        "undo its upgrade: extra column user.email_address",
        "SKIP stairway r2: not run: the stairway failed at r2",
        "SKIP round-trip: not run: the stairway failed at r2",
        "3 passed, 3 failed",
    ]


def test_a_flask_migrate_env_py_runs_on_the_throwaway_database(proj: Project) -> None:
    history(proj)
    (proj.migrations / "env.py").write_text(FLASK_MIGRATE_ENV)
    proj.ok("upgrade", "r1")
    before = fingerprint(proj)
    result = proj.ok("test", app=proj.app(email=True))
    assert result.output.strip().splitlines()[-1] == "6 passed"
    assert fingerprint(proj) == before


def test_an_env_py_with_its_own_engine_is_refused(proj: Project, tmp_path: Path) -> None:
    history(proj)
    other = tmp_path / "elsewhere.db"
    env = FLASK_MIGRATE_ENV.replace(
        "engine = state.db.engine",
        f'import sqlalchemy\nengine = sqlalchemy.create_engine("sqlite:///{other}")',
    )
    (proj.migrations / "env.py").write_text(env)
    result = proj.run("test", app=proj.app(email=True))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(
        "Error: env.py configured Alembic with a database migrepo cannot redirect"
    )
    assert "Traceback" not in result.output
    assert proj.tables(f"sqlite:///{other}") == set()


# --- which database ------------------------------------------------------------------


def test_the_app_database_only_by_its_exact_url(proj: Project, tmp_path: Path) -> None:
    history(proj)
    proj.ok("upgrade")
    before = fingerprint(proj)
    result = proj.run(
        "test",
        "--url",
        f"sqlite:///{tmp_path}/../{tmp_path.name}/app.db",
        app=proj.app(email=True),
    )
    assert result.exit_code == 2
    assert "is the app's configured database" in result.output
    result = proj.run("test", "--url", proj.url, app=proj.app(email=True))
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert fingerprint(proj) == before


def test_a_given_url_is_emptied_afterwards(proj: Project, tmp_path: Path) -> None:
    history(proj)
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    proj.ok("test", "--url", scratch, app=proj.app(email=True))
    assert proj.tables(scratch) == set()
    proj.ok("test", "--url", scratch, app=proj.app(email=True))  # so it can run again


@pytest.mark.postgres
def test_postgres_needs_a_url_or_create_db(tmp_path: Path, pg_url: str, pg_url_factory) -> None:
    with project(tmp_path, pg_url) as proj:
        history(proj)
        result = proj.run("test", app=proj.app(email=True))
        assert result.exit_code == 2
        assert "is postgresql, not SQLite: give an empty database with --url" in result.output
        other = pg_url_factory()
        proj.ok("test", "--url", other, app=proj.app(email=True))
        assert proj.tables(other) == set()


# --- several databases ---------------------------------------------------------------


def test_every_bind_of_a_multidb_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'main.db'}"
    binds = {"users": f"sqlite:///{tmp_path / 'users.db'}"}
    with project(tmp_path, url, binds=binds) as proj:
        proj.ok("init", "--multidb")
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        before = proj.tables(binds["users"]), proj.tables()
        result = proj.ok("test")
        assert result.output.strip().splitlines()[-1] == "5 passed"
        assert (proj.tables(binds["users"]), proj.tables()) == before

        # A downgrade of the users bind that does nothing.
        path = proj.migrations / "versions" / "r1_one.py"
        text = path.read_text()
        start = text.index("def downgrade_users():")
        body_end = text.index("def ", start + 10) if "def " in text[start + 10 :] else len(text)
        text = text[:start] + "def downgrade_users():\n    pass\n\n\n" + text[body_end:]
        path.write_text(text)
        result = proj.run("test", "--format", "json")
        assert result.exit_code == 1
        failed = [c for c in json.loads(result.stdout)["checks"] if not c["passed"]]
        assert failed[0]["check"] == "stairway"
        assert failed[0]["revision"] == "r1"
        assert failed[0]["reason"] == (
            "downgrading from the heads to base, the downgrade of r1 does not undo its "
            "upgrade: extra table users:item_users"
        )


def test_multidb_urls_per_bind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'main.db'}"
    binds = {"users": f"sqlite:///{tmp_path / 'users.db'}"}
    with project(tmp_path, url, binds=binds) as proj:
        proj.ok("init", "--multidb")
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        result = proj.run("test", "--url", a)
        assert result.exit_code == 2 and "give one URL per bind" in result.output
        proj.ok("test", "--url", f"={a}", "--url", f"users={b}")


def test_help() -> None:
    from migrepo.cli import _testing

    assert _testing.test.help and _testing.drift.help
    assert textwrap.dedent(_testing.test.help).strip()


def test_heads_recorded_in_the_heads_file_pass(proj: Project) -> None:
    history(proj)
    revision(proj, "r3", "r1", "    pass", "    pass")
    proj.ok("heads", "--write")
    code, found = run_test(proj)
    assert found["single-head:"]["passed"] is True
    assert code == 0, found  # a branched history: the stairway walks each branch


def test_an_async_app(tmp_path: Path) -> None:
    with project(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init", "-t", "aioflask")
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        proj.ok("upgrade")
        assert proj.ok("test").stdout.splitlines()[-1] == "5 passed"
        assert proj.ok("drift").stdout.startswith("No drift")
        scratch = f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        assert proj.ok("test", "--url", scratch).stdout.splitlines()[-1] == "5 passed"


def test_a_custom_version_table_is_not_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with project(tmp_path, url, migrate_kwargs={"version_table": "schema_version"}) as proj:
        history(proj)
        code, found = run_test(proj)
    assert code == 0, found


def test_group_x_arguments_reach_env_py(proj: Project) -> None:
    from tests.apps import RECORDING_ENV

    history(proj)
    (proj.migrations / "env.py").write_text(RECORDING_ENV)
    proj.ok("upgrade")
    (proj.migrations / "xargs.jsonl").unlink()
    proj.ok("-x", "tenant=a", "test", app=proj.app(email=True))
    proj.ok("-x", "tenant=a", "drift", app=proj.app(email=True))
    lines = (proj.migrations / "xargs.jsonl").read_text().splitlines()
    assert lines and set(lines) == {'["tenant=a"]'}


def test_a_bind_the_migrations_do_not_cover_is_refused_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    other = tmp_path / "cache.db"
    with project(tmp_path, url, binds={"cache": f"sqlite:///{other}"}) as proj:
        history(proj)  # a one-database env.py: the cache bind is not migrated
        result = proj.run("test", "--url", f"sqlite:///{tmp_path}/./cache.db")
        assert result.exit_code == 2
        assert "is the app's configured database ('cache')" in result.output
