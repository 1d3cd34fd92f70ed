"""Tests for the throwaway-PostgreSQL fixtures in ``tests/pg.py``."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.pg import PgDatabaseFactory, database_names

pytestmark = pytest.mark.postgres


def _db_name(url: str) -> str:
    name = make_url(url).database
    assert name
    return name


@pytest.fixture
def dropped_after_teardown(pg_server_url: str) -> Iterator[list[str]]:
    """Collects database names that must be gone once the test's fixtures are torn down.

    Request it *before* ``pg_url_factory``: fixtures are torn down in reverse order, so this
    check runs after the factory's teardown. (Were the order ever different, the databases
    would still exist and the check would fail loudly rather than pass silently.)
    """
    names: list[str] = []
    yield names
    assert names, "the test registered no database names"
    leftover = set(names) & database_names(pg_server_url)
    assert not leftover, f"databases not dropped at teardown: {sorted(leftover)}"


def test_pg_url_is_a_fresh_usable_database(pg_url: str, pg_server_url: str) -> None:
    name = _db_name(pg_url)
    assert name != _db_name(pg_server_url)
    assert name in database_names(pg_server_url)
    engine = create_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            assert conn.scalar(text("SELECT current_database()")) == name
            conn.execute(text("CREATE TABLE thing (id serial PRIMARY KEY, label text)"))
            conn.execute(text("INSERT INTO thing (label) VALUES ('a'), ('b')"))
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM thing")) == 2
    finally:
        engine.dispose()


def test_factory_databases_are_distinct_and_dropped(
    dropped_after_teardown: list[str], pg_url_factory: PgDatabaseFactory, pg_server_url: str
) -> None:
    url_a, url_b = pg_url_factory(), pg_url_factory()
    name_a, name_b = _db_name(url_a), _db_name(url_b)
    dropped_after_teardown += [name_a, name_b]
    assert name_a != name_b
    assert {name_a, name_b} <= database_names(pg_server_url)
    assert pg_url_factory.names == [name_a, name_b]

    engine_a, engine_b = create_engine(url_a), create_engine(url_b)
    try:
        with engine_a.begin() as conn:
            conn.execute(text("CREATE TABLE only_in_a (id int)"))
        assert inspect(engine_a).get_table_names() == ["only_in_a"]
        assert inspect(engine_b).get_table_names() == []
    finally:
        engine_a.dispose()
        engine_b.dispose()


def test_drop_all_terminates_open_connections(pg_server_url: str) -> None:
    with PgDatabaseFactory(pg_server_url, prefix="harness") as factory:
        url_a, url_b = factory(), factory()
        name_a, name_b = _db_name(url_a), _db_name(url_b)
        assert name_a.startswith("harness_")

        factory.drop(url_a)
        assert factory.names == [name_b]
        assert name_a not in database_names(pg_server_url)

        # A connection left open must not prevent the drop (DROP DATABASE ... WITH (FORCE)).
        libpq_url = make_url(url_b).set(drivername="postgresql")
        conn = psycopg.connect(libpq_url.render_as_string(hide_password=False))
    try:
        assert factory.names == []
        assert name_b not in database_names(pg_server_url)
    finally:
        conn.close()
