"""version_locations in alembic.ini and --version-path: misreadings get a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.apps import Project


@pytest.fixture
def two_locations(proj: Project) -> Project:
    """A migrations directory with a1 in versions/ and a second location, other/."""
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    (proj.migrations / "other").mkdir()
    return proj


def set_locations(proj: Project, value: str) -> None:
    ini = proj.migrations / "alembic.ini"
    text = ini.read_text()
    ini.write_text(text.replace("[alembic]\n", f"[alembic]\nversion_locations = {value}\n", 1))


def test_locations_joined_by_the_path_separator_work(two_locations: Project) -> None:
    set_locations(two_locations, os.pathsep.join(["%(here)s/versions", "%(here)s/other"]))
    other = two_locations.migrations / "other"
    two_locations.ok("revision", "--rev-id", "b2", "--version-path", str(other))
    assert (other / "b2_.py").is_file()
    assert two_locations.ok("heads").output == "b2 (head)\n"


@pytest.mark.parametrize("command", ["heads", "history", "verify", "revision", "upgrade"])
def test_space_separated_locations_are_an_error(two_locations: Project, command: str) -> None:
    set_locations(two_locations, "%(here)s/versions %(here)s/other")
    before = sorted(two_locations.root.rglob("*"))
    result = two_locations.run(command)
    assert result.exit_code == 1
    mig = two_locations.migrations
    assert result.output.endswith(
        f"Error: version_locations in {mig / 'alembic.ini'} names "
        f"'{mig / 'versions'} {mig / 'other'}', which does not exist: the path_separator = os "
        f"setting splits it on {os.pathsep!r}; separate the directories with {os.pathsep!r}\n"
    )
    assert sorted(two_locations.root.rglob("*")) == before


def test_an_existing_directory_with_a_space_is_fine(two_locations: Project) -> None:
    spaced = two_locations.migrations / "more versions"
    spaced.mkdir()
    set_locations(two_locations, os.pathsep.join(["%(here)s/versions", str(spaced)]))
    two_locations.ok("revision", "--rev-id", "b2", "--version-path", str(spaced))
    assert two_locations.ok("heads").output == "b2 (head)\n"


def test_an_invalid_path_separator(two_locations: Project) -> None:
    ini = two_locations.migrations / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os", "path_separator = comma"))
    set_locations(two_locations, "%(here)s/versions")
    result = two_locations.run("heads")
    assert result.exit_code == 1
    # Alembic before 1.16 names the option by its old name, version_path_separator.
    assert f"Error: {ini}: 'comma' is not a valid value for " in result.output
    assert "path_separator;" in result.output


@pytest.mark.parametrize("configured", [False, True])
def test_version_path_outside_the_locations(two_locations: Project, configured: bool) -> None:
    if configured:
        set_locations(two_locations, os.pathsep.join(["%(here)s/versions", "%(here)s/other"]))
    mig = two_locations.migrations
    before = sorted(two_locations.root.rglob("*"))
    result = two_locations.run("revision", "--rev-id", "b2", "--version-path", "elsewhere")
    assert result.exit_code == 2
    listed = ", ".join(str(mig / name) for name in (["versions", "other"] if configured else
                                                    ["versions"]))
    assert (
        f"Error: invalid --version-path 'elsewhere': it is not one of the version locations "
        f"({listed}); give one of them, or add it to version_locations in {mig / 'alembic.ini'}"
    ) in result.output
    assert sorted(two_locations.root.rglob("*")) == before
    assert not Path("elsewhere").exists()
