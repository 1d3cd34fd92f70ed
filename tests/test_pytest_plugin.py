"""The pytest plugin (migrepo.testing.plugin), run by pytest on small projects.

Each test writes a project into ``pytester.path`` (an app, a real migrations
directory on SQLite, maybe test files) and runs pytest on it in a subprocess:
the project's app module must not leak into this process. The plugin is
loaded there as users get it, through the ``pytest11`` entry point.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.apps import project, revision_text
from tests.pg import database_names

pytest_plugins = ["pytester"]

MODELS = """\
class Person(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(128))
    email = db.Column(db.String(120))
"""

# A module-level app, as in the README's quickstart.
PLAIN_APP = f"""\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from migrepo import Migrate

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///app.db"
db = SQLAlchemy(app)
migrate = Migrate(app, db)


{MODELS}"""

# An app factory in a package, with the extensions created unbound.
FACTORY_APP = """\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from migrepo import Migrate

db = SQLAlchemy()
migrate = Migrate()


def create_app(database="sqlite:///app.db"):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database
    db.init_app(app)
    migrate.init_app(app, db)
    from . import models  # noqa: F401
    return app
"""

# An env.py written for Flask-Migrate: it connects through the app's engine itself.
FLASK_MIGRATE_ENV = """\
from flask import current_app
from alembic import context

state = current_app.extensions["migrate"]
engine = state.db.engine
metadata = state.db.metadatas[None]

if context.is_offline_mode():
    context.configure(url=engine.url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          **state.configure_args)
        with context.begin_transaction():
            context.run_migrations()
"""

R1 = (
    "create person",
    """op.create_table("person", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(128)))""",
    'op.drop_table("person")',
)
R2 = (
    "add email",
    """with op.batch_alter_table("person") as batch:
    batch.add_column(sa.Column("email", sa.String(120)))""",
    """with op.batch_alter_table("person") as batch:
    batch.drop_column("email")""",
)
# A data migration: nothing to undo in the schema.
R3 = ("lower-case emails", 'op.execute("UPDATE person SET email = lower(email)")', "pass")


@pytest.fixture(scope="session")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrations directory as `flask db init` writes it, made once.

    Made before any test's ``pytester`` exists: pytester drops the modules a
    test imports, and importing SQLAlchemy's dialects twice warns.
    """
    root = tmp_path_factory.mktemp("initialised")
    with project(root, f"sqlite:///{root / 'init.db'}") as proj:
        proj.ok("init")
    return root / "migrations"


@pytest.fixture
def make_project(initialised: Path, pytester: pytest.Pytester) -> Callable[..., None]:
    """Write a project into ``pytester.path``: ``make_project("plain" | "factory", ...)``."""

    def make(kind: str, **kwargs: str) -> None:
        shutil.copytree(initialised, pytester.path / "migrations")
        files = {"myapp.py": PLAIN_APP} if kind == "plain" else {
            "factoryapp/__init__.py": FACTORY_APP,
            "factoryapp/models.py": f"from . import db\n\n\n{MODELS}",
        }
        write_project(pytester.path, files, **kwargs)

    return make


def write_project(root: Path, app_files: dict[str, str], *, r2_downgrade: str | None = None,
                  env: str | None = None) -> None:
    """The app's files, and revisions r1 -> r2 -> r3 that match its models."""
    for name, text in app_files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    versions = root / "migrations" / "versions"
    revisions = [("r1", None, R1), ("r2", "r1", R2), ("r3", "r2", R3)]
    for rev, down, (message, upgrade, downgrade) in revisions:
        if rev == "r2" and r2_downgrade is not None:
            downgrade = r2_downgrade
        text = revision_text(rev, down, upgrade, downgrade, message=message)
        (versions / f"{rev}_x.py").write_text(text, encoding="utf-8")
    if env is not None:
        (root / "migrations" / "env.py").write_text(env, encoding="utf-8")


def tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def assert_untouched(app_db: Path, *, opened: bool = False) -> None:
    """The app's SQLite file (Flask-SQLAlchemy puts a relative one in instance/) was not
    made; or, when an env.py written for Flask-Migrate ``opened`` it, nothing was written."""
    for path in (app_db, app_db.parent / "instance" / app_db.name):
        if opened and path.exists():
            assert tables(f"sqlite:///{path}") == []
        else:
            assert not path.exists()


def ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n" + "\n".join(lines) + "\n")


CHECKS = [
    "migrepo::single-head",
    "migrepo::upgrade",
    "migrepo::model-match",
    "migrepo::stairway[[]r1[]]",
    "migrepo::stairway[[]r2[]]",
    "migrepo::stairway[[]r3[]]",
    "migrepo::round-trip",
]


# --- the checks as items ------------------------------------------------------------


def test_plain_app_every_check_is_an_item_and_passes(
    pytester: pytest.Pytester, make_project: Callable[..., None]
) -> None:
    make_project("plain")
    ini(pytester)

    result = pytester.runpytest_subprocess("--migrepo", "--migrepo-app", "myapp:app", "-v")

    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines([f"{name} PASSED*" for name in CHECKS], consecutive=True)
    # The throwaway database, never the app's.
    assert_untouched(pytester.path / "app.db")


def test_factory_with_a_flask_migrate_env_py_names_the_revision_whose_downgrade_is_pass(
    pytester: pytest.Pytester, make_project: Callable[..., None]
) -> None:
    make_project("factory", r2_downgrade="pass", env=FLASK_MIGRATE_ENV)
    ini(pytester, "migrepo_app = factoryapp:create_app")

    result = pytester.runpytest_subprocess("--migrepo", "-rA")

    # The first stairway step downgrades from the heads to base first: r2's
    # downgrade fails there, and r2's item reports it.
    result.assert_outcomes(passed=3, failed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*_ migrepo::stairway[[]r2[]] _*",
            "stairway failed at r2: * the downgrade of r2 does not undo its upgrade: "
            "extra column person.email",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["FAILED migrepo::stairway[[]r2[]]*"])  # older pytest: no reason
    for skipped in ("stairway[[]r1[]]", "stairway[[]r3[]]", "round-trip"):
        result.stdout.fnmatch_lines(
            [f"SKIPPED [[]1[]] migrepo::{skipped}: not run: the stairway failed at r2"]
        )
    assert "Traceback" not in result.stdout.str()
    assert "runtest" not in result.stdout.str()
    # That env.py connects to the app's engine (SQLite then makes the file); migrepo swaps the
    # connection for one to the throwaway database before Alembic uses it.
    assert_untouched(pytester.path / "app.db", opened=True)


def test_a_factory_call_with_arguments_and_a_selected_check(
    pytester: pytest.Pytester, make_project: Callable[..., None]
) -> None:
    """``-k`` picks one stairway step: the checks before it still run first, unreported."""
    make_project("factory")
    ini(pytester)
    app = 'factoryapp:create_app("sqlite:///other.db")'

    result = pytester.runpytest_subprocess("--migrepo", "--migrepo-app", app, "-k", "r3", "-v")

    result.assert_outcomes(passed=1, deselected=6)
    result.stdout.fnmatch_lines(["migrepo::stairway[[]r3[]] PASSED*"])
    assert_untouched(pytester.path / "other.db")


def test_an_app_that_does_not_import_is_one_collection_error(pytester: pytest.Pytester) -> None:
    ini(pytester, "migrepo_app = nosuchmodule:app")

    result = pytester.runpytest_subprocess("--migrepo")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting migrepo*",
            "migrepo could not list its checks: no Flask app for migrepo: "
            "Could not import 'nosuchmodule'.",
        ],
        consecutive=True,
    )
    assert "Traceback" not in result.stdout.str()


def test_an_app_without_migrate_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(bare="from flask import Flask\n\napp = Flask(__name__)\n")
    ini(pytester, "migrepo_app = bare:app")

    result = pytester.runpytest_subprocess("--migrepo")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*the app 'bare' has no Migrate extension: create it with*"])


def test_a_given_database_is_used_and_emptied(
    pytester: pytest.Pytester, make_project: Callable[..., None]
) -> None:
    make_project("plain")
    ini(pytester, "migrepo_app = myapp:app")
    given = pytester.path / "given.db"

    result = pytester.runpytest_subprocess("--migrepo", f"--migrepo-url=sqlite:///{given}")

    result.assert_outcomes(passed=7)
    assert tables(f"sqlite:///{given}") == []
    assert_untouched(pytester.path / "app.db")


PG_DATA_MIGRATION_TEST = """\
from sqlalchemy import inspect, text


def test_r3_on_postgresql(migrepo_url, migrepo_migrator):
    assert migrepo_url.startswith("postgresql") and migrepo_url != {app_url!r}
    migrepo_migrator.upgrade("r2")
    with migrepo_migrator.engine.begin() as conn:
        conn.execute(text("INSERT INTO person (name, email) VALUES ('Ada', 'ADA@Example.org')"))
    migrepo_migrator.upgrade("+1")
    with migrepo_migrator.engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM person")).scalar_one() == "ada@example.org"
"""


@pytest.mark.postgres
def test_postgresql_scratch_databases_for_the_checks_and_the_fixtures(
    pytester: pytest.Pytester, make_project: Callable[..., None], pg_url: str,
    pg_server_url: str,
) -> None:
    """--migrepo-create-db: scratch databases on the app's server, all dropped afterwards."""
    make_project("factory")
    ini(pytester, f"migrepo_app = factoryapp:create_app({pg_url!r})")
    pytester.makepyfile(test_data=PG_DATA_MIGRATION_TEST.format(app_url=pg_url))
    before = database_names(pg_server_url)

    result = pytester.runpytest_subprocess("--migrepo", "--migrepo-create-db", "-v")

    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines([f"{name} PASSED*" for name in CHECKS], consecutive=True)
    assert database_names(pg_server_url) == before
    assert tables(pg_url) == []  # the app's own database


# --- fixtures -----------------------------------------------------------------------

DATA_MIGRATION_TEST = """\
from sqlalchemy import inspect, text


def test_r3_lower_cases_the_emails(migrepo_migrator, migrepo_app):
    migrepo_migrator.upgrade("r2")
    with migrepo_migrator.engine.begin() as conn:
        conn.execute(text("INSERT INTO person (name, email) VALUES ('Ada', 'ADA@Example.org')"))

    migrepo_migrator.upgrade("+1")

    with migrepo_migrator.engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM person")).scalar_one() == "ada@example.org"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "r3"
    migrepo_migrator.downgrade("base")
    assert inspect(migrepo_migrator.engine).get_table_names() == ["alembic_version"]


def test_each_test_gets_an_empty_database(migrepo_url, migrepo_migrator):
    assert migrepo_url.startswith("sqlite:///") and "app.db" not in migrepo_url
    assert inspect(migrepo_migrator.engine).get_table_names() == []


def test_the_app_is_in_an_app_context(migrepo_app):
    from flask import current_app

    assert current_app._get_current_object() is migrepo_app
"""


@pytest.mark.parametrize("kind", ["plain", "factory"])
def test_the_data_migration_helper(
    pytester: pytest.Pytester, make_project: Callable[..., None], kind: str
) -> None:
    make_project(kind)
    app = "myapp:app" if kind == "plain" else "factoryapp:create_app"
    ini(pytester, f"migrepo_app = {app}")
    pytester.makepyfile(test_data=DATA_MIGRATION_TEST)

    result = pytester.runpytest_subprocess("-v")

    result.assert_outcomes(passed=3)
    assert "migrepo::" not in result.stdout.str()
    assert_untouched(pytester.path / "app.db")


def test_a_fixture_without_an_app_fails_its_test_in_one_line(pytester: pytest.Pytester) -> None:
    ini(pytester)
    pytester.makepyfile(test_x="def test_x(migrepo_url):\n    pass\n")

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["no Flask app for migrepo: *(set --migrepo-app or the migrepo_app ini option)"]
    )


# --- the plugin in every pytest run -------------------------------------------------


def test_without_the_option_it_adds_nothing(
    pytester: pytest.Pytester, make_project: Callable[..., None]
) -> None:
    make_project("plain")
    ini(pytester, "migrepo_app = myapp:app")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")

    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["collecting ... collected 1 item", "", "test_other.py::test_other PASSED*"],
        consecutive=True,
    )
    assert "migrepo::" not in result.stdout.str()


def test_importing_the_plugin_imports_neither_flask_nor_alembic() -> None:
    code = (
        "import sys, migrepo.testing.plugin\n"
        "heavy = {'flask', 'alembic', 'sqlalchemy', 'networkx', 'git'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_options_have_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")

    for option in ("--migrepo ", "--migrepo-app=IMPORT", "--migrepo-url=URL",
                   "--migrepo-create-db", "migrepo_app (string)"):
        assert option in result.stdout.str(), option


def test_database_urls_one_per_bind(pytester: pytest.Pytester) -> None:
    from migrepo.testing._pytest_app import MigrepoSetupError, database_options

    plain = "postgresql://h/db?sslmode=require&application_name=x"
    config = pytester.parseconfig(f"--migrepo-url={plain}", "--migrepo-create-db")
    assert database_options(config) == (plain, True)

    config = pytester.parseconfig(
        "--migrepo-url==sqlite:///d.db", "--migrepo-url", "users=sqlite:///u.db"
    )
    assert database_options(config) == ({"": "sqlite:///d.db", "users": "sqlite:///u.db"}, False)

    config = pytester.parseconfig("--migrepo-url=a=sqlite:///1.db", "--migrepo-url=a=sqlite:///2")
    with pytest.raises(MigrepoSetupError, match="gives bind 'a' twice: give one URL per bind"):
        database_options(config)
    assert database_options(pytester.parseconfig()) == (None, False)
