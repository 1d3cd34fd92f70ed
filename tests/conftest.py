from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import Project, project

pytest_plugins = ["tests.pg"]


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
