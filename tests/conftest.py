from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.apps import Project, project

pytest_plugins = ["tests.pg", "tests.mysql"]

# Under CI, every run tests the same examples and no timing decides: recent Hypothesis
# versions load a profile like this one by themselves, the lowest (6.100) does not.
# Loaded before any test module makes its settings objects, which inherit from it.
settings.register_profile(
    "migrepo-ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("CI"):
    settings.load_profile("migrepo-ci")


@pytest.fixture(scope="session", autouse=True)
def git_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Git reads a global config of the suite's own, and no system config.

    The tests commit with the identity set here, whatever the machine's
    config says (CI's may have no user.name; a developer's may sign commits,
    or trust every directory with safe.directory). Set for the whole session
    and undone at its end: it is what git, and each `flask db` subprocess, reads.
    """
    path = tmp_path_factory.mktemp("git-config") / "gitconfig"
    path.write_text("[user]\n\tname = migrepo tests\n\temail = tests@migrepo.invalid\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(path))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def proj(tmp_path: Path, sqlite_url: str) -> Iterator[Project]:
    """A project on a SQLite file, with no migrations directory yet."""
    with project(tmp_path, sqlite_url) as p:
        yield p


@pytest.fixture
def any_proj(tmp_path: Path, db_url: str) -> Iterator[Project]:
    """A project on SQLite and on PostgreSQL."""
    with project(tmp_path, db_url) as p:
        yield p


APP_TEMPLATE = '''\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from migrepo import Migrate

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
app.config["SQLALCHEMY_BINDS"] = {binds!r}
db = SQLAlchemy(app)
migrate = Migrate(app, db)


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(128))
{extra}
'''

BIND_MODEL = '''

class Item_{bind}(db.Model):
    __tablename__ = "item_{bind}"
    __bind_key__ = "{bind}"
    id = db.Column(db.Integer, primary_key=True)
'''


@pytest.fixture
def flask_app_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an app module for subprocess runs of `flask db`; returns its path."""

    def write(url: str, binds: dict[str, str] | None = None, extra: str = "") -> Path:
        models = "".join(BIND_MODEL.format(bind=bind) for bind in binds or {})
        path = tmp_path / "app.py"
        path.write_text(APP_TEMPLATE.format(url=url, binds=binds or {}, extra=models + extra))
        return path

    return write
