"""One run per command: per-run settings reach Alembic without process-wide side channels.

env.py files written for Flask-Migrate pass ``**configure_args`` to
``context.configure()`` beside keywords of their own; migrepo must never add
a key to ``configure_args``, yet those files must still get the ledger and a
transaction per revision, composed with their own callbacks.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from migrepo.engine import commands as _commands
from migrepo.engine.options import MoveOptions, RevisionOptions
from tests.apps import Project, project
from tests.test_locking import add_chain, add_revision, ledger_steps

# An env.py in Flask-Migrate's single-database shape, with the user's own
# include_object, on_version_apply and process_revision_directives passed
# beside **configure_args, as real projects write them.
USER_HOOKS_ENV = '''\
import json
import os

from alembic import context
from flask import current_app

state = current_app.extensions["migrate"]
here = context.config.get_main_option("script_location")


def note(*values):
    with open(os.path.join(here, "hooks.jsonl"), "a", encoding="utf-8") as out:
        out.write(json.dumps(values) + "\\n")


def keep_legacy_out(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        note("include_object", name)
    return name != "legacy"


def remember_step(ctx, step, heads, run_args):
    note("on_version_apply", list(step.up_revision_ids or step.down_revision_ids))


def skip_empty(ctx, revision, directives):
    note("process_revision_directives")
    autogenerate = getattr(context.config.cmd_opts, "autogenerate", False)
    if autogenerate and directives[0].upgrade_ops.is_empty():
        directives[:] = []


note("configure_args", sorted(state.configure_args))
if context.is_offline_mode():
    context.configure(url=state.db.engine.url, target_metadata=state.db.metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with state.db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=state.db.metadata,
            include_object=keep_legacy_out,
            on_version_apply=remember_step,
            process_revision_directives=skip_empty,
            **state.configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()
'''


def hooks_seen(proj: Project) -> list[list[Any]]:
    path = proj.migrations / "hooks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines]


def ledger_rows(url: str, table: str = "migrepo_ledger") -> list[tuple[str, str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    sa.text(f"SELECT revision, direction, outcome FROM {table} ORDER BY id")
                )
            ]
    finally:
        engine.dispose()


def test_user_hooks_beside_configure_args_compose_with_migrepos(any_proj: Project) -> None:
    proj = any_proj
    proj.ok("init")
    (proj.migrations / "env.py").write_text(USER_HOOKS_ENV)
    engine = sa.create_engine(proj.url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE legacy (id INTEGER PRIMARY KEY)"))
    engine.dispose()

    proj.ok("migrate", "-m", "users", "--rev-id", "r1")
    seen = hooks_seen(proj)
    # env.py sees only the user's Migrate(...) keywords, never migrepo's hooks.
    assert ["configure_args", ["compare_type", "render_as_batch"]] in seen
    assert ["process_revision_directives"] in seen
    assert ["include_object", "user"] in seen
    text = next(proj.migrations.glob("versions/r1_*.py")).read_text()
    assert "legacy" not in text
    assert "migrepo_ledger" not in text

    proj.ok("upgrade")
    assert ["on_version_apply", ["r1"]] in hooks_seen(proj)
    assert proj.version() == {"r1"}
    assert ledger_rows(proj.url) == [("r1", "upgrade", "ok")]

    # With a ledger table in the database, autogenerate still proposes nothing:
    # the user's filter hides `legacy`, migrepo's hides its ledger.
    proj.ok("migrate", "-m", "nothing", "--rev-id", "r2")
    assert sorted(p.name for p in proj.migrations.glob("versions/r*.py")) == ["r1_users.py"]
    proj.ok("check")
    seen = hooks_seen(proj)
    assert ["include_object", "legacy"] in seen
    assert ["include_object", "migrepo_ledger"] not in seen

    proj.ok("stamp", "base")
    proj.ok("stamp", "r1")
    assert ledger_rows(proj.url)[-2:] == [("base", "stamp", "ok"), ("r1", "stamp", "ok")]
    assert proj.app().extensions["migrate"].configure_args == {
        "compare_type": True,
        "render_as_batch": True,
    }


def test_flask_migrate_env_py_offline_gets_the_ledger_and_a_transaction_per_revision(
    any_proj: Project,
) -> None:
    proj = any_proj
    proj.ok("init")
    (proj.migrations / "env.py").write_text(USER_HOOKS_ENV)
    add_chain(proj.migrations, 2)
    out = proj.ok("upgrade", "--sql").stdout
    assert out.count("INSERT INTO migrepo_ledger") == 2
    if proj.url.startswith("postgresql"):
        assert out.count("BEGIN;") == out.count("COMMIT;") == 2
        assert proj.ok("upgrade", "--sql", "--single-transaction").stdout.count("BEGIN;") == 1
    assert proj.version() == set()


def test_state_and_config_are_resolved_once_per_command(
    proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrepo.engine import run

    calls: list[str] = []
    resolve = run.state

    def counting() -> Any:
        calls.append("state")
        return resolve()

    monkeypatch.setattr(run, "state", counting)
    app = proj.app()
    def count_configs(config: Any) -> Any:
        calls.append("config")
        return config

    app.extensions["migrate"].migrate.configure(count_configs)
    proj.ok("init", app=app)
    add_chain(proj.migrations, 2)
    for args in (["upgrade"], ["current"], ["heads"], ["history"], ["stamp", "r1"],
                 ["downgrade", "base"], ["revision", "-m", "x", "--rev-id", "r3"], ["branches"],
                 ["upgrade", "r1"], ["show", "r1"], ["show", "current"], ["history", "-i"],
                 ["history", "--graph", "-i", "-r", "r1:"], ["history", "--format", "json"],
                 ["upgrade", "--plan"], ["downgrade", "--plan", "base"], ["status"], ["verify"]):
        calls.clear()
        result = proj.run(*args, app=app)
        assert result.exit_code == 0, (args, result.output)
        assert calls == ["state", "config"], args


# An env.py that records what it was handed, then migrates with migrepo's runtime.
PEEKING_ENV = """\
import json
import os

from alembic import context
from flask import current_app

from migrepo.runtime import run_migrations

here = context.config.get_main_option("script_location")
with open(os.path.join(here, "hooks.jsonl"), "a", encoding="utf-8") as out:
    out.write(json.dumps(["configure_args",
                          sorted(current_app.extensions["migrate"].configure_args)]) + "\\n")
    out.write(json.dumps(["attributes", sorted(map(str, context.config.attributes))]) + "\\n")
run_migrations(context)
"""


@pytest.mark.parametrize("args", [["upgrade"], ["upgrade", "--single-transaction"], ["stamp"]])
def test_configure_args_hold_only_the_users_keywords(proj: Project, args: list[str]) -> None:
    proj.migrate_kwargs = {"transaction_per_migration": False, "version_table": "versions"}
    proj.ok("init")
    (proj.migrations / "env.py").write_text(PEEKING_ENV)
    add_chain(proj.migrations, 2)
    app = proj.app()
    proj.ok(*args, app=app)
    seen = hooks_seen(proj)
    assert ["configure_args", [
        "compare_type", "render_as_batch", "transaction_per_migration", "version_table"
    ]] in seen
    assert ["attributes", ["migrepo.hooks"]] in seen
    assert app.extensions["migrate"].configure_args == {
        "compare_type": True,
        "render_as_batch": True,
        "transaction_per_migration": False,
        "version_table": "versions",
    }
    assert proj.version(table="versions") == {"r2"}
    steps = [("r2", "stamp")] if args == ["stamp"] else [("r1", "upgrade"), ("r2", "upgrade")]
    assert [row[:2] for row in ledger_rows(proj.url)] == steps


def test_no_alembic_module_attribute_is_rebound(proj: Project) -> None:
    import alembic.command
    import alembic.script

    proj.ok("init")
    add_chain(proj.migrations, 2)
    before = dict(vars(alembic.command))
    app = proj.app()
    for args in (["upgrade"], ["heads"], ["history"], ["current"], ["downgrade", "base"],
                 ["revision", "-m", "x", "--rev-id", "r3"], ["stamp", "head"]):
        proj.ok(*args, app=app)
    assert vars(alembic.command) == before
    assert alembic.command.ScriptDirectory is alembic.script.ScriptDirectory


# --- transactions in the env.py shapes written for Flask-Migrate ------------------

MULTIDB_REVISION = '''"""{rev}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table("a_{rev}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade_():
    op.drop_table("a_{rev}")


def upgrade_other():
    {other}


def downgrade_other():
    op.drop_table("b_{rev}")
'''

# Flask-Migrate's multi-database shape: a transaction begun on every connection
# before the loop, committed after it.
MULTIDB_OUTER_TRANSACTION_ENV = '''\
from alembic import context
from flask import current_app

state = current_app.extensions["migrate"]
engines = {"": state.db.engines[None], "other": state.db.engines["other"]}
records = {}
for name, engine in engines.items():
    connection = engine.connect()
    records[name] = (connection, connection.begin())
try:
    for name, (connection, _) in records.items():
        context.configure(
            connection=connection,
            upgrade_token=f"{name}_upgrades",
            downgrade_token=f"{name}_downgrades",
            target_metadata=state.db.metadatas[name or None],
            **state.configure_args,
        )
        context.run_migrations(engine_name=name)
    for _, transaction in records.values():
        transaction.commit()
except BaseException:
    for _, transaction in records.values():
        transaction.rollback()
    raise
finally:
    for connection, _ in records.values():
        connection.close()
'''

# The same loop with Alembic's own transaction block around each database's run.
MULTIDB_BEGIN_TRANSACTION_ENV = '''\
from alembic import context
from flask import current_app

state = current_app.extensions["migrate"]
for name, engine in (("", state.db.engines[None]), ("other", state.db.engines["other"])):
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            upgrade_token=f"{name}_upgrades",
            downgrade_token=f"{name}_downgrades",
            target_metadata=state.db.metadatas[name or None],
            **state.configure_args,
        )
        with context.begin_transaction():
            context.run_migrations(engine_name=name)
'''


# Flask-Migrate's multi-database shape with the user's hooks: a filter and a
# step callback passed beside **configure_args, and its skip-empty hook put
# into configure_args itself, as that file does.
MULTIDB_USER_HOOKS_ENV = MULTIDB_OUTER_TRANSACTION_ENV.replace(
    'state = current_app.extensions["migrate"]\n',
    """state = current_app.extensions["migrate"]
seen = []


def keep_legacy_out(obj, name, type_, reflected, compare_to):
    return name != "legacy"


def remember_step(ctx, step, heads, run_args):
    seen.append(step.up_revision_id)


def skip_empty(ctx, revision, directives):
    if getattr(context.config.cmd_opts, "autogenerate", False):
        ops = directives[0].upgrade_ops_list
        if len(ops) == 2 and all(op.is_empty() for op in ops):
            directives[:] = []


if state.configure_args.get("process_revision_directives") is None:
    state.configure_args["process_revision_directives"] = skip_empty
""",
).replace(
    "            **state.configure_args,",
    "            include_object=keep_legacy_out,\n"
    "            on_version_apply=remember_step,\n"
    "            **state.configure_args,",
)


def test_flask_migrate_multidb_env_py_with_user_hooks(tmp_path: Path) -> None:
    default_url = f"sqlite:///{tmp_path / 'default.db'}"
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    with project(tmp_path, default_url, binds={"other": other_url}) as proj:
        proj.ok("init", "--multidb")
        (proj.migrations / "env.py").write_text(MULTIDB_USER_HOOKS_ENV)
        for url in (default_url, other_url):
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE legacy (id INTEGER PRIMARY KEY)"))
            engine.dispose()

        proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
        text = next(proj.migrations.glob("versions/r1_*.py")).read_text()
        assert "create_table('user'" in text and "create_table('item_other'" in text
        assert "legacy" not in text
        proj.ok("upgrade")
        assert proj.version(default_url) == proj.version(other_url) == {"r1"}
        assert ledger_rows(default_url) == ledger_rows(other_url) == [("r1", "upgrade", "ok")]

        # Both ledgers exist now; autogenerate proposes nothing, so no file is written.
        proj.ok("migrate", "-m", "nothing", "--rev-id", "r2")
        assert [p.name for p in proj.migrations.glob("versions/r*.py")] == ["r1_initial.py"]
        proj.ok("check")


def multidb_chain(migrations: Path, failing: str) -> None:
    """r1..r3 on both databases; ``failing`` fails on the bind 'other'."""
    down = None
    for rev in ("r1", "r2", "r3"):
        other = (
            'op.execute("SELECT * FROM no_such_table")'
            if rev == failing
            else f'op.create_table("b_{rev}", sa.Column("id", sa.Integer, primary_key=True))'
        )
        path = migrations / "versions" / f"{rev}_step.py"
        path.write_text(MULTIDB_REVISION.format(rev=rev, down=down, other=other))
        down = rev


def pg_version(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return set()
            return set(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Alembic's begin_transaction() per database: one transaction per revision.
        (MULTIDB_BEGIN_TRANSACTION_ENV, ({"r3"}, {"r2"})),
        # Transactions env.py began itself: Alembic runs inside them, all or nothing.
        (MULTIDB_OUTER_TRANSACTION_ENV, (set(), set())),
    ],
    ids=["begin_transaction-per-database", "own-transaction-around-the-loop"],
)
def test_multidb_env_py_shapes_and_their_transactions(
    tmp_path: Path, pg_url_factory: Any, env: str, expected: tuple[set[str], set[str]]
) -> None:
    default_url, other_url = pg_url_factory(), pg_url_factory()
    with project(tmp_path, default_url, binds={"other": other_url}) as proj:
        proj.ok("init", "--multidb")
        (proj.migrations / "env.py").write_text(env)
        multidb_chain(proj.migrations, failing="r3")
        result = proj.run("upgrade")
        assert result.exit_code == 1
        assert "revision r3 failed" in result.output
        assert (pg_version(default_url), pg_version(other_url)) == expected


@pytest.mark.postgres
def test_flask_migrate_single_db_shape_keeps_revisions_before_the_failure(
    tmp_path: Path, pg_url: str
) -> None:
    with project(tmp_path, pg_url) as proj:
        proj.ok("init")
        (proj.migrations / "env.py").write_text(USER_HOOKS_ENV)
        add_chain(proj.migrations, 2)
        add_revision(proj.migrations, "r3", "r2", 'op.execute("SELECT * FROM no_such_table")')
        result = proj.run("upgrade")
        assert result.exit_code == 1
        assert proj.version() == {"r2"}
        assert ledger_steps(pg_url) == [
            ("r1", "upgrade", "ok"),
            ("r2", "upgrade", "ok"),
            ("r3", "upgrade", "failed"),
        ]


# --- threads --------------------------------------------------------------------------

ROUNDS = 20


def alembic_namespaces() -> dict[str, dict[str, Any]]:
    import alembic.command
    import alembic.context
    import alembic.op
    import alembic.runtime.environment
    import alembic.runtime.migration
    import alembic.script
    import alembic.script.base

    modules = (
        alembic.command,
        alembic.context,
        alembic.op,
        alembic.runtime.environment,
        alembic.runtime.migration,
        alembic.script,
        alembic.script.base,
    )
    return {module.__name__: dict(vars(module)) for module in modules}


def in_threads(*jobs: Any, rounds: int = ROUNDS) -> None:
    """Run each job in a thread of its own, every round starting together."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def work(job: Any) -> None:
        try:
            for number in range(rounds):
                barrier.wait(timeout=300)
                job(number)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def upgrade_round(app: Any) -> Any:
    def job(_: int) -> None:
        with app.app_context():
            _commands.upgrade(options=MoveOptions())
            _commands.downgrade(options=MoveOptions(revision="base"))

    return job


def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    factory = request.getfixturevalue("pg_url_factory")
    return factory(), factory()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    return two_databases(request, tmp_path)


def test_upgrades_in_two_threads(tmp_path: Path, urls: tuple[str, str]) -> None:
    with project(tmp_path / "one", urls[0]) as one, project(tmp_path / "two", urls[1]) as two:
        for proj in (one, two):
            proj.root.mkdir(exist_ok=True)
            proj.ok("init")
            add_chain(proj.migrations, 3)
            proj.ok("upgrade")  # warm up: every module Alembic imports lazily is loaded
            proj.ok("downgrade", "base")
        before = alembic_namespaces()

        apps = [one.app(), two.app()]
        in_threads(*(upgrade_round(app) for app in apps))
        for proj, app in zip((one, two), apps, strict=True):
            proj.ok("upgrade", app=app)

        assert alembic_namespaces() == before
        for proj in (one, two):
            assert proj.version() == {"r3"}
            steps = ledger_steps(proj.url)
            expected = 2 * [(r, "upgrade", "ok") for r in ("r1", "r2", "r3")]
            expected += ROUNDS * [(r, "upgrade", "ok") for r in ("r1", "r2", "r3")]
            expected += ROUNDS * [(r, "downgrade", "ok") for r in ("r3", "r2", "r1")]
            expected += [(r, "downgrade", "ok") for r in ("r3", "r2", "r1")]
            assert sorted(steps) == sorted(expected)
            assert len(steps) == len(expected)


def test_revision_and_upgrade_in_two_threads(tmp_path: Path, sqlite_url: str) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    with project(tmp_path / "one", sqlite_url) as one, project(tmp_path / "two", other_url) as two:
        for proj in (one, two):
            proj.root.mkdir(exist_ok=True)
            proj.ok("init")
        add_chain(two.migrations, 3)
        two.ok("upgrade")
        two.ok("downgrade", "base")
        before = alembic_namespaces()
        writer, mover = one.app(), two.app()

        def write(number: int) -> None:
            with writer.app_context():
                _commands.revision(options=RevisionOptions(message="step", rev_id=f"w{number}"))

        in_threads(write, upgrade_round(mover))

        assert alembic_namespaces() == before
        assert len(one.revision_files()) == ROUNDS
        assert "w19" in (one.migrations / "HEADS").read_text()
        assert one.ok("heads").output == "w19 (head)\n"
        two.ok("upgrade", app=mover)
        assert two.version() == {"r3"}
        assert len(ledger_steps(two.url)) == 6 + ROUNDS * 6 + 3


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_one_app_in_two_threads_records_each_step_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url_for(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    with project(tmp_path, url) as proj:
        proj.ok("init")
        add_chain(proj.migrations, 3)
        app = proj.app()
        in_threads(upgrade_round(app), upgrade_round(app), rounds=8)
        proj.ok("upgrade", app=app)

        assert proj.version() == {"r3"}
        steps = ledger_steps(proj.url)
        for revision in ("r1", "r2", "r3"):
            # The migration lock makes the two runs take turns: each step of a
            # revision is recorded once, so its rows alternate up and down.
            directions = [d for r, d, _ in steps if r == revision]
            assert directions[::2] == ["upgrade"] * len(directions[::2])
            assert directions[1::2] == ["downgrade"] * len(directions[1::2])
            assert directions[-1] == "upgrade"


def sqlite_url_for(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_hooks_compose_with_the_callers_keywords() -> None:
    from migrepo.engine.run_hooks import Hooks

    calls: list[str] = []
    hooks = Hooks(
        ledger_table="ledger",
        recorder=lambda *args: calls.append("recorder"),  # type: ignore[arg-type]
        transaction_per_migration=True,
        process_revision_directives=(lambda *args: calls.append("ours"),),
    )

    def user_filter(obj: Any, name: Any, type_: Any, reflected: Any, compare_to: Any) -> bool:
        calls.append(f"filter {name}")
        return name != "legacy"

    given = {
        "include_object": user_filter,
        "on_version_apply": lambda *args: calls.append("user step"),
        "process_revision_directives": lambda *args: calls.append("user directives"),
        "transaction_per_migration": False,
        "compare_type": True,
    }
    merged = hooks.merge(dict(given))
    assert merged["compare_type"] is True
    # env.py's own value stands unless --single-transaction or the config chose.
    assert merged["transaction_per_migration"] is False
    assert hooks.merge({})["transaction_per_migration"] is True
    hooks.transaction_mode_given = True
    assert hooks.merge(dict(given))["transaction_per_migration"] is True

    include = merged["include_object"]
    assert include(None, "ledger", "table", True, None) is False
    assert include(None, "legacy", "table", True, None) is False
    assert include(None, "user", "table", True, None) is True
    assert include(None, "ledger", "column", True, None) is True
    for step in merged["on_version_apply"]:
        step(None, None, None, {})
    merged["process_revision_directives"](None, None, [])
    assert calls == [
        "filter legacy",
        "filter user",
        "filter ledger",
        "user step",
        "recorder",
        "user directives",
        "ours",
    ]
    assert Hooks().merge(dict(given)) == given
