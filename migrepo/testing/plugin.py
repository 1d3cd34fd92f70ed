"""The pytest plugin: migrepo's migration checks as test items, and fixtures for
data-migration tests.

pytest loads it in every run, through the ``pytest11`` entry point; it adds
nothing unless asked. Without ``--migrepo`` it only registers its options and
fixtures, and importing it imports neither Flask nor Alembic, nor the app:
that happens when a check runs or a test requests a fixture.

* ``pytest --migrepo`` collects the checks of ``flask db test``
  (:func:`migrepo.testing.checks`) as items, before the other tests:
  ``migrepo::single-head``, ``migrepo::upgrade``, ``migrepo::model-match``,
  one ``migrepo::stairway[REVISION]`` per revision, ``migrepo::round-trip``.
  They run in that order on one throwaway database; an item run without the
  ones before it (``-k``, another order) runs them first, unreported.
* Fixtures: ``migrepo_app`` (the app, in an app context), ``migrepo_url`` (an
  empty throwaway database for one test) and ``migrepo_migrator``
  (:class:`Migrator`: move that database between revisions, and query it).

The app comes from ``--migrepo-app``, else the ``migrepo_app`` ini option,
else ``FLASK_APP``, else ``app.py`` or ``wsgi.py``, found as ``flask --app``
finds it: ``module:app``, ``module:create_app`` or ``module:create_app(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from migrepo.testing._pytest_app import (
    MigrepoSetupError,
    Target,
    database_options,
    known,
    load_app,
)

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine

__all__ = ["Migrator"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migrepo", "migrepo: migration checks and fixtures")
    group.addoption(
        "--migrepo",
        action="store_true",
        default=False,
        help="collect migrepo's migration checks as test items: single-head, upgrade, "
        "model-match, one stairway per revision and round-trip, on a throwaway database",
    )
    group.addoption(
        "--migrepo-app",
        metavar="IMPORT",
        default=None,
        help="the Flask app, as for `flask --app`: 'module:app', 'module:create_app' or "
        "'module:create_app(...)' (default: the migrepo_app ini option, else FLASK_APP, "
        "else app.py or wsgi.py)",
    )
    group.addoption(
        "--migrepo-url",
        metavar="URL",
        action="append",
        default=None,
        help="an empty database to test on instead of a temporary SQLite file; what the "
        "checks and fixtures create there is dropped after each use. A multi-database app "
        "takes one BIND=URL per bind ('=URL' for the default)",
    )
    group.addoption(
        "--migrepo-create-db",
        action="store_true",
        default=False,
        help="create a scratch database on the app's server (PostgreSQL, MySQL or MariaDB) "
        "for each use, and drop it afterwards",
    )
    parser.addini(
        "migrepo_app",
        "the Flask app for migrepo's checks and fixtures, as --migrepo-app",
        default=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("migrepo"):
        from migrepo.testing._pytest_items import ChecksPlugin

        config.pluginmanager.register(ChecksPlugin(config), "migrepo-checks")


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def migrepo_app(pytestconfig: pytest.Config) -> Iterator[Flask]:
    """The app of ``--migrepo-app`` (or the ``migrepo_app`` ini option), with an app
    context pushed for the test. Imported once per session.

    Override it in ``conftest.py`` to build the app another way; the other
    fixtures push their own app context, so an override may just return the app.
    """
    try:
        app = load_app(pytestconfig)
    except MigrepoSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    with app.app_context():
        yield app


@pytest.fixture
def migrepo_url(migrepo_app: Flask, pytestconfig: pytest.Config) -> Iterator[Target]:
    """An empty throwaway database for one test, as :func:`migrepo.testing.throwaway_database`
    makes it: a temporary SQLite file by default, a scratch database with
    ``--migrepo-create-db``, or the database of ``--migrepo-url``, emptied afterwards.

    A URL, or for a multi-database app a mapping bind name -> URL (``""`` is
    the default database). Never the app's configured database.
    """
    from migrepo.testing import throwaway_database

    try:
        url, create_db = database_options(pytestconfig)
    except MigrepoSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    with migrepo_app.app_context():
        database = throwaway_database(url=url, create_db=create_db)
        try:
            target = database.__enter__()
        except Exception as exc:
            if not known(exc):
                raise
            pytest.fail(f"no throwaway database for migrepo: {exc}", pytrace=False)
    try:
        yield target
    finally:
        with migrepo_app.app_context():
            database.__exit__(None, None, None)


@pytest.fixture
def migrepo_migrator(migrepo_app: Flask, migrepo_url: Target) -> Iterator[Migrator]:
    """A :class:`Migrator` on this test's throwaway database (``migrepo_url``), at base."""
    migrator = Migrator(migrepo_app, migrepo_url)
    try:
        yield migrator
    finally:
        migrator.dispose()


class Migrator:
    """Moves one throwaway database between revisions, for data-migration tests::

        def test_names_are_split(migrepo_migrator):
            migrepo_migrator.upgrade("3f2a1b")          # the revision before the data migration
            with migrepo_migrator.engine.begin() as conn:
                conn.execute(text("INSERT INTO person (name) VALUES ('Ada Lovelace')"))
            migrepo_migrator.upgrade("+1")              # run the data migration
            with migrepo_migrator.engine.connect() as conn:
                row = conn.execute(text("SELECT first, last FROM person")).one()
            assert row == ("Ada", "Lovelace")

    Revisions are anything ``flask db upgrade`` takes: ids, ``head``, ``+1``,
    ``-1``, ``base``. Close your connections before moving the database: an
    open transaction can block the migration's DDL.
    """

    def __init__(self, app: Flask, url: Target, *, directory: str | None = None) -> None:
        self.app = app
        self.url = url
        self.directory = directory
        self._engines: dict[str, Engine] = {}

    def upgrade(self, revision: str = "heads") -> None:
        """Upgrade the throwaway database to ``revision`` (default: every head)."""
        from migrepo.testing import upgrade_to

        with self.app.app_context():
            upgrade_to(self.url, revision, directory=self.directory)

    def downgrade(self, revision: str = "-1") -> None:
        """Downgrade the throwaway database to ``revision`` (default: one step)."""
        from migrepo.testing import downgrade_to

        with self.app.app_context():
            downgrade_to(self.url, revision, directory=self.directory)

    @property
    def engine(self) -> Engine:
        """A SQLAlchemy engine on the throwaway database (the default bind's)."""
        return self.engine_for("")

    def engine_for(self, bind: str) -> Engine:
        """A SQLAlchemy engine on one bind's throwaway database (``""``: the default)."""
        if bind not in self._engines:
            from sqlalchemy import create_engine

            urls = {"": self.url} if isinstance(self.url, str) else dict(self.url)
            if bind not in urls:
                names = ", ".join(repr(b) for b in urls)
                raise KeyError(f"no throwaway database for bind {bind!r} (binds: {names})")
            self._engines[bind] = create_engine(urls[bind])
        return self._engines[bind]

    def dispose(self) -> None:
        """Close the engines' connections; the fixture does this after the test."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
