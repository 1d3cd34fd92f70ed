"""The Migrate extension: constructor, init_app, app.extensions, callbacks, get_config."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

import migrepo
from migrepo import Migrate, MigrateState
from tests.apps import Project, project

MakeApp = Callable[..., Flask]

# The app factory pattern, as Flask-Migrate's documentation shows it.
factory_db = SQLAlchemy()
factory_migrate = Migrate()


class Item(factory_db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "item"
    id = sa.Column(sa.Integer, primary_key=True)


def create_app(root: Path, url: str, directory: Path) -> Flask:
    app = Flask(f"factory_{directory.name}", root_path=str(root))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    factory_db.init_app(app)
    factory_migrate.init_app(app, factory_db, directory=directory)
    return app


# --- helpers -------------------------------------------------------------------


def run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def dispose(app: Flask) -> None:
    with app.app_context():
        for engine in app.extensions["sqlalchemy"].engines.values():
            engine.dispose()


def tables(url: str) -> set[str]:
    """The schema's tables, leaving out migrepo's ledger."""
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"migrepo_ledger"}
    finally:
        engine.dispose()


@pytest.fixture
def make_app(tmp_path: Path, sqlite_url: str) -> Iterator[MakeApp]:
    """Build apps on one SQLite file, with a ``user`` table; optionally init_app a Migrate."""
    made: list[Flask] = []

    def make(
        migrate: Migrate | None = None,
        *,
        name_length: int = 128,
        email: bool = False,
        **init_kwargs: Any,
    ) -> Flask:
        app = Flask(f"ext{len(made)}", root_path=str(tmp_path))
        app.config["SQLALCHEMY_DATABASE_URI"] = sqlite_url
        db = SQLAlchemy()

        class User(db.Model):  # type: ignore[name-defined,misc]
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.String(name_length))
            if email:
                email_address = sa.Column(sa.String(120))

        db.init_app(app)
        if migrate is not None:
            migrate.init_app(app, db, **init_kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        dispose(app)


def latest_revision_text(directory: Path) -> str:
    newest = max((directory / "versions").glob("*.py"), key=lambda p: p.stat().st_mtime_ns)
    return newest.read_text()


# --- constructor and init_app --------------------------------------------------


def test_constructor_values_are_kept_by_init_app(make_app: MakeApp, tmp_path: Path) -> None:
    migrate = Migrate(
        directory=tmp_path / "mig",
        command="database",
        compare_type=False,
        render_as_batch=False,
        version_table="my_version",
    )
    app = make_app(migrate)
    state = app.extensions["migrate"]
    assert isinstance(state, MigrateState)
    assert state.directory == str(tmp_path / "mig")
    assert state.configure_args == {
        "compare_type": False,
        "render_as_batch": False,
        "version_table": "my_version",
    }
    assert "database" in app.cli.commands
    assert "db" not in app.cli.commands

    # And they take effect: the directory, the version table, no batch mode.
    run(app, "database", "init")
    assert (tmp_path / "mig" / "env.py").is_file()
    run(app, "database", "migrate")
    run(app, "database", "upgrade")
    assert tables(app.config["SQLALCHEMY_DATABASE_URI"]) == {"user", "my_version"}
    run(make_app(migrate, email=True), "database", "migrate")
    text = latest_revision_text(tmp_path / "mig")
    assert "op.add_column('user'" in text
    assert "batch_alter_table" not in text


def test_init_app_arguments_override_the_constructor(make_app: MakeApp, tmp_path: Path) -> None:
    migrate = Migrate(
        directory=tmp_path / "first", command="first", compare_type=False, render_as_batch=False
    )
    app = make_app(
        migrate,
        directory=tmp_path / "second",
        command="second",
        compare_type=True,
        version_table="v2",
    )
    state = app.extensions["migrate"]
    assert state.directory == str(tmp_path / "second")
    assert state.configure_args == {
        "compare_type": True,
        "render_as_batch": False,
        "version_table": "v2",
    }
    assert "second" in app.cli.commands
    assert "first" not in app.cli.commands


def test_compare_type_reaches_autogenerate(make_app: MakeApp, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    base = make_app(Migrate(directory=directory))
    run(base, "db", "init")
    run(base, "db", "migrate")
    run(base, "db", "upgrade")
    count = len(list((directory / "versions").glob("*.py")))

    blind = make_app(Migrate(directory=directory, compare_type=False), name_length=256)
    result = run(blind, "db", "migrate")
    assert "No changes in schema detected." in result.output
    assert len(list((directory / "versions").glob("*.py"))) == count

    seeing = make_app(Migrate(directory=directory), name_length=256)
    run(seeing, "db", "migrate")
    assert "length=256" in latest_revision_text(directory)


def test_extra_kwargs_reach_environment_configure(tmp_path: Path, sqlite_url: str) -> None:
    with project(tmp_path, sqlite_url, migrate_kwargs={"version_table": "custom_version"}) as p:
        p.ok("init")
        p.ok("migrate", "--rev-id", "r1")
        p.ok("upgrade")
        assert p.tables() == {"user", "custom_version"}
        assert p.version(table="custom_version") == {"r1"}
        assert p.ok("current").output.splitlines()[-1] == "r1 (head)"


def test_directory_as_path(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app()
    Migrate(app, app.extensions["sqlalchemy"], directory=tmp_path / "as_path")
    directory = app.extensions["migrate"].directory
    assert directory == str(tmp_path / "as_path")
    assert isinstance(directory, str)
    run(app, "db", "init")
    run(app, "db", "migrate", "--rev-id", "p1")
    assert [p.name for p in (tmp_path / "as_path" / "versions").glob("*.py")] == ["p1_.py"]


def test_constructor_without_db_does_not_register(make_app: MakeApp) -> None:
    app = make_app()
    Migrate(app)
    assert "migrate" not in app.extensions
    assert "db" not in app.cli.commands


def test_app_factory_with_two_apps(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    second_url = f"sqlite:///{tmp_path / 'second.db'}"
    first = create_app(tmp_path, first_url, first_dir)
    second = create_app(tmp_path, second_url, second_dir)
    try:
        for app, rev in ((first, "a1"), (second, "b1")):
            run(app, "db", "init")
            run(app, "db", "migrate", "--rev-id", rev)
            run(app, "db", "upgrade")
        assert [p.name for p in (first_dir / "versions").iterdir()] == ["a1_.py"]
        assert [p.name for p in (second_dir / "versions").iterdir()] == ["b1_.py"]
        assert tables(first_url) == tables(second_url) == {"item", "alembic_version"}
        assert run(first, "db", "current").output.splitlines()[-1] == "a1 (head)"
        assert run(second, "db", "current").output.splitlines()[-1] == "b1 (head)"
        for app, directory in ((first, first_dir), (second, second_dir)):
            state = app.extensions["migrate"]
            assert state.migrate is factory_migrate
            assert state.db is factory_db
            assert state.directory == str(directory)
    finally:
        dispose(first)
        dispose(second)


# --- app.extensions['migrate'] -------------------------------------------------

MUTATING_ENV = """\
from alembic import context
from flask import current_app

from migrepo.runtime import run_migrations

current_app.extensions["migrate"].configure_args["version_table"] = "set_by_env"
run_migrations(context)
"""


def test_state_attributes_and_env_py_mutations(proj: Project) -> None:
    app = proj.app()
    state = app.extensions["migrate"]
    assert state.migrate is not None
    assert isinstance(state.migrate, Migrate)
    assert state.db is app.extensions["sqlalchemy"]
    assert state.metadata is state.db.metadata
    assert state.directory == str(proj.migrations)
    assert state.configure_args == {"compare_type": True, "render_as_batch": True}

    proj.ok("init", app=app)
    (proj.migrations / "env.py").write_text(MUTATING_ENV)
    proj.ok("revision", "--rev-id", "r1", app=app)
    proj.ok("upgrade", app=app)
    assert state.configure_args["version_table"] == "set_by_env"
    # The mutation stays with this app: the extension's own arguments are unchanged.
    assert "version_table" not in state.migrate.alembic_ctx_kwargs
    assert proj.tables() == {"set_by_env"}
    assert proj.version(table="set_by_env") == {"r1"}


# --- configure callbacks and get_config ----------------------------------------


def test_configure_callbacks_are_chained_in_order(make_app: MakeApp, tmp_path: Path) -> None:
    migrate = Migrate(directory=tmp_path / "migrations")
    make_app(migrate)
    received: list[object] = []

    @migrate.configure
    def first(config):  # type: ignore[no-untyped-def]
        received.append(config)
        replacement = migrepo.Config()
        replacement.set_main_option("script_location", config.get_main_option("script_location"))
        replacement.cmd_opts = config.cmd_opts
        replacement.set_main_option("first", "1")
        return replacement

    @migrate.configure
    def second(config):  # type: ignore[no-untyped-def]
        received.append(config)
        config.set_main_option("second", config.get_main_option("first") + "2")
        return config

    assert first is not None and second is not None  # the decorator returns the function
    assert migrate.configure_callbacks == [first, second]
    config = migrate.get_config()
    assert len(received) == 2
    assert received[0] is not received[1]
    assert received[1] is config
    assert config.get_main_option("first") == "1"
    assert config.get_main_option("second") == "12"


def test_configure_callback_reaches_commands(make_app: MakeApp, tmp_path: Path) -> None:
    migrate = Migrate(directory=tmp_path / "migrations")
    app = make_app(migrate)
    seen: list[str | None] = []

    @migrate.configure
    def name_files(config):  # type: ignore[no-untyped-def]
        seen.append(config.config_file_name)
        config.set_main_option("file_template", "custom_%%(rev)s")
        return config

    run(app, "db", "init")
    # init runs the callbacks too, as Flask-Migrate's does.
    assert seen == [str(tmp_path / "migrations" / "alembic.ini")]
    run(app, "db", "revision", "--rev-id", "c1")
    assert len(seen) == 2
    assert [p.name for p in (tmp_path / "migrations" / "versions").glob("*.py")] == [
        "custom_c1.py"
    ]


@pytest.mark.parametrize(
    ("x_arg", "expected"),
    [(None, []), ("a=1", ["a=1"]), (["a=1", "b=2"], ["a=1", "b=2"]), (("c=3",), ["c=3"])],
)
def test_get_config_x_arg(x_arg: Any, expected: list[str], tmp_path: Path) -> None:
    migrate = Migrate(directory=tmp_path / "default")
    config = migrate.get_config(tmp_path / "other", x_arg=x_arg)
    assert config.cmd_opts.x == expected
    assert config.get_main_option("script_location") == str(tmp_path / "other")
    assert config.config_file_name == str(tmp_path / "other" / "alembic.ini")


def test_get_config_defaults_and_opts(tmp_path: Path) -> None:
    migrate = Migrate(directory=tmp_path / "default")
    config = migrate.get_config(opts=["autogenerate", "sql"])
    assert config.get_main_option("script_location") == str(tmp_path / "default")
    assert config.cmd_opts.autogenerate is True
    assert config.cmd_opts.sql is True
    assert config.cmd_opts.x == []
    assert not hasattr(migrate.get_config().cmd_opts, "autogenerate")
    assert isinstance(config, migrepo.Config)


# --- the command group ---------------------------------------------------------


def test_renamed_command(tmp_path: Path, sqlite_url: str) -> None:
    with project(tmp_path, sqlite_url) as p:
        app = p.app(command="database")
        assert "database" in app.cli.commands
        assert "db" not in app.cli.commands
        runner = app.test_cli_runner()
        for args in (["init"], ["migrate", "--rev-id", "r1"], ["upgrade"]):
            result = runner.invoke(args=["database", *args])
            assert result.exit_code == 0, result.output
        assert p.version() == {"r1"}
        missing = runner.invoke(args=["db", "upgrade"])
        assert missing.exit_code == 2
        assert "No such command 'db'" in missing.output


def test_help_creates_nothing(proj: Project, tmp_path: Path) -> None:
    result = proj.ok("--help")
    assert "upgrade" in result.output
    assert proj.ok("upgrade", "--help").output.startswith("Usage:")
    assert list(tmp_path.iterdir()) == []


LAZY_IMPORT_PROBE = """\
import json
import sys

import migrepo
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

app = Flask("probe")
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
db = SQLAlchemy(app)
migrepo.Migrate(app, db)
assert "db" in app.cli.commands
heavy = {"alembic", "networkx", "git", "gitdb"}
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in heavy)))
"""


def test_import_and_migrate_are_lazy(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", LAZY_IMPORT_PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []
    assert list(tmp_path.iterdir()) == []


def test_public_names() -> None:
    assert migrepo.__all__ == [
        "Config",
        "Migrate",
        "MigrateState",
        "MigrepoError",
        "__version__",
        "branches",
        "check",
        "current",
        "downgrade",
        "edit",
        "heads",
        "history",
        "init",
        "list_templates",
        "merge",
        "migrate",
        "revision",
        "revision_graph",
        "show",
        "stamp",
        "status",
        "upgrade",
    ]
    for name in migrepo.__all__:
        assert getattr(migrepo, name) is not None
    with pytest.raises(AttributeError):
        _ = migrepo.does_not_exist  # type: ignore[attr-defined]


def test_dir_shows_only_public_names() -> None:
    import importlib

    modules = ["cli", "errors", "graph", "runtime"]
    assert dir(migrepo) == sorted([*migrepo.__all__, *modules])
    for name in modules:
        importlib.import_module(f"migrepo.{name}")
        assert name in dir(migrepo)
