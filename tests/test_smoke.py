from tests.apps import Project


def test_quickstart_cycle(any_proj: Project) -> None:
    any_proj.ok("init")
    any_proj.ok("migrate", "-m", "initial")
    any_proj.ok("upgrade")
    assert {"user", "alembic_version"} <= any_proj.tables()
    [first] = any_proj.revision_files()
    any_proj.ok("migrate", "-m", "add email", app=any_proj.app(email=True))
    assert len(any_proj.revision_files()) == 2
    any_proj.ok("upgrade", app=any_proj.app(email=True))
    any_proj.ok("downgrade")
    assert any_proj.version() == {first.name.split("_")[0]}


def test_the_license_file_matches_pyproject() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).parent.parent
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    lines = (root / "LICENSE").read_text().splitlines()
    assert lines[:3] == ["MIT License", "", "Copyright (c) 2026 the migrepo authors"]
