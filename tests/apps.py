"""Build small Flask apps for the tests: one model, one or more databases."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_sqlalchemy import SQLAlchemy

from migrepo import Migrate

# A revision file as the tests write it by hand; revision_text() fills it in.
REVISION_FILE = '''"""{message}

Revision ID: {rev}
"""
{imports}revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


# An env.py that records what the command line handed to it, then migrates as usual.
RECORDING_ENV = """\
import json
import os

from alembic import context

from migrepo.runtime import run_migrations

here = context.config.get_main_option("script_location")
for name, value in (("xargs", context.get_x_argument()), ("tags", context.get_tag_argument())):
    with open(os.path.join(here, name + ".jsonl"), "a", encoding="utf-8") as record:
        record.write(json.dumps(value) + "\\n")

run_migrations(context)
"""


@dataclass
class Project:
    """A migrations directory and the databases an app migrates.

    Each :meth:`app` call builds a fresh app over the same directory and
    databases, so a test can change the models between commands, as a user
    edits models.py between `flask db migrate` runs.
    """

    root: Path
    url: str
    binds: dict[str, str] = field(default_factory=dict)
    migrate_kwargs: dict[str, Any] = field(default_factory=dict)
    directory: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    _apps: list[Flask] = field(default_factory=list)

    @property
    def migrations(self) -> Path:
        return Path(self.directory) if self.directory else self.root / "migrations"

    def app(self, *, email: bool = False, extra_table: bool = False, command: str = "db") -> Flask:
        app = Flask(f"app{len(self._apps)}", root_path=str(self.root))
        app.config["SQLALCHEMY_DATABASE_URI"] = self.url
        if self.binds:
            app.config["SQLALCHEMY_BINDS"] = dict(self.binds)
        app.config.update(self.config)
        db = SQLAlchemy()

        class User(db.Model):  # type: ignore[name-defined,misc]
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.String(128))
            if email:
                email_address = sa.Column(sa.String(120))

        for bind in self.binds:
            type(
                f"Item_{bind}",
                (db.Model,),
                {
                    "__tablename__": f"item_{bind}",
                    "__bind_key__": bind,
                    "id": sa.Column(sa.Integer, primary_key=True),
                },
            )
        if extra_table:
            type(
                "Note",
                (db.Model,),
                {"__tablename__": "note", "id": sa.Column(sa.Integer, primary_key=True)},
            )
        db.init_app(app)
        Migrate(
            app,
            db,
            directory=str(self.migrations),
            command=command,
            **self.migrate_kwargs,
        )
        self._apps.append(app)
        return app

    def run(self, *args: str, app: Flask | None = None, **kwargs: Any) -> Result:
        """Run ``flask db ARGS`` in-process and return click's result."""
        app = app or self.app()
        runner: FlaskCliRunner = app.test_cli_runner()
        return runner.invoke(args=["db", *args], **kwargs)

    def ok(self, *args: str, app: Flask | None = None, **kwargs: Any) -> Result:
        """Like :meth:`run`, asserting exit status 0."""
        result = self.run(*args, app=app, **kwargs)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def tables(self, url: str | None = None, *, ledger: bool = False) -> set[str]:
        """The database's tables; migrepo's ledger only when ``ledger`` is true."""
        engine = sa.create_engine(url or self.url)
        try:
            names = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        if not ledger:
            names.discard(self.config.get("MIGREPO_LEDGER_TABLE", "migrepo_ledger"))
        return names

    def version(self, url: str | None = None, table: str = "alembic_version") -> set[str]:
        engine = sa.create_engine(url or self.url)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(table):
                    return set()
                return set(conn.scalars(sa.text(f"SELECT version_num FROM {table}")))
        finally:
            engine.dispose()

    def write_revision(
        self, rev: str, down: object, *, name: str = "x", message: str | None = None
    ) -> Path:
        """Write ``versions/<rev>_<name>.py`` by hand, as an editor or another tool would."""
        path = self.migrations / "versions" / f"{rev}_{name}.py"
        text = revision_text(rev, down, message=message, imports=False)
        path.write_text(text, encoding="utf-8")
        return path

    def revision_files(self) -> list[Path]:
        return sorted((self.migrations / "versions").glob("*.py"))

    def close(self) -> None:
        for app in self._apps:
            with app.app_context():
                for engine in app.extensions["sqlalchemy"].engines.values():
                    engine.dispose()


@contextmanager
def project(root: Path, url: str, **kwargs: Any) -> Iterator[Project]:
    proj = Project(root, url, **kwargs)
    try:
        yield proj
    finally:
        proj.close()


def revision_text(
    rev: str, down: object, upgrade: str = "pass", downgrade: str = "pass",
    *, message: str | None = None, imports: bool = True,
) -> str:
    """A revision file whose upgrade() and downgrade() bodies are the given lines;
    ``imports`` adds ``from alembic import op`` and ``import sqlalchemy as sa``."""

    def body(lines: str) -> str:
        return textwrap.indent(textwrap.dedent(lines).strip("\n"), "    ")

    return REVISION_FILE.format(
        message=rev if message is None else message, rev=rev, down=down,
        imports="from alembic import op\nimport sqlalchemy as sa\n\n" if imports else "",
        upgrade=body(upgrade), downgrade=body(downgrade),
    )
