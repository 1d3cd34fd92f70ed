"""`flask db` and `python manage.py db` as a user runs them: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MANAGE_PY = '''\
import click
from flask.cli import FlaskGroup

from app import app


@click.group(cls=FlaskGroup, create_app=lambda: app)
def cli():
    """Management script for the app."""


if __name__ == "__main__":
    cli()
'''


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MIGREPO_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_flask_db_quickstart(tmp_path: Path, flask_app_file: Callable[..., Path]) -> None:
    flask_app_file(f"sqlite:///{tmp_path / 'app.db'}")
    flask = ["-m", "flask", "--app", "app", "db"]
    results = [
        _run(tmp_path, *flask, *args)
        for args in (["init"], ["migrate", "-m", "initial", "--rev-id", "r1"], ["upgrade"])
    ]
    assert [r.returncode for r in results] == [0, 0, 0], results[-1].stderr
    assert "Detected added table 'user'" in results[1].stderr
    again = _run(tmp_path, *flask, "migrate")
    assert "No changes in schema detected." in again.stderr
    versions = tmp_path / "migrations" / "versions"
    assert [p.name for p in versions.glob("*.py")] == ["r1_initial.py"]
    history = _run(tmp_path, *flask, "history")
    assert history.stdout.strip() == "<base> -> r1 (head), initial"


def test_error_is_one_line_without_traceback(
    tmp_path: Path, flask_app_file: Callable[..., Path]
) -> None:
    flask_app_file(f"sqlite:///{tmp_path / 'app.db'}")
    flask = ["-m", "flask", "--app", "app", "db"]

    result = _run(tmp_path, *flask, "upgrade")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no migrations directory at 'migrations': run `flask db init` to create it, "
        "or pass `-d DIRECTORY`"
    ]

    _run(tmp_path, *flask, "init")
    result = _run(tmp_path, *flask, "upgrade", "nosuchrev")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("Error: Can't locate revision identified by 'nosuchrev'")

    result = _run(tmp_path, *flask, "--traceback", "upgrade", "nosuchrev")
    assert "Traceback (most recent call last)" in result.stderr


def test_manage_py_flaskgroup(tmp_path: Path, flask_app_file: Callable[..., Path]) -> None:
    flask_app_file(f"sqlite:///{tmp_path / 'app.db'}")
    (tmp_path / "manage.py").write_text(MANAGE_PY)
    for args in (["init"], ["migrate", "--rev-id", "r1"], ["upgrade"]):
        result = _run(tmp_path, "manage.py", "db", *args)
        assert result.returncode == 0, result.stderr
    assert _run(tmp_path, "manage.py", "db", "current").stdout.strip() == "r1 (head)"
    assert "Perform database migrations" in _run(tmp_path, "manage.py", "db", "--help").stdout


def test_wheel_ships_templates_and_cli(tmp_path: Path) -> None:
    """The built wheel holds every template, migrepo.cli, and no top-level `cli`."""
    import zipfile

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(root)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("migrepo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("flask", "flask-multidb", "aioflask", "aioflask-multidb"):
        for name in ("README", "env.py", "script.py.mako", "alembic.ini.mako"):
            assert f"migrepo/templates/{template}/{name}" in names
    assert "migrepo/cli/__init__.py" in names
    assert "migrepo/py.typed" in names
    assert not any(name.startswith("cli/") for name in names)
    # The pytest plugin, and the entry point every pytest run loads it through.
    assert "migrepo/testing/plugin.py" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\nmigrepo = migrepo.testing.plugin" in text


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(
    tmp_path: Path, flask_app_file: Callable[..., Path]
) -> None:
    """`flask db log | head -1`: once `head` has gone, no error and status 0."""
    flask_app_file(f"sqlite:///{tmp_path / 'app.db'}")
    flask = ["-m", "flask", "--app", "app", "db"]
    for setup in (["init"], ["migrate", "--rev-id", "r1"], ["upgrade"]):
        assert _run(tmp_path, *flask, *setup).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MIGREPO_"))}
    for args in (["log"], ["history", "--graph"], ["log", "--format", "json"], ["history"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first line is written
        try:
            result = subprocess.run(
                [sys.executable, *flask, *args],
                cwd=tmp_path,
                env=env,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        finally:
            os.close(write_end)
        assert (args, result.returncode, result.stderr) == (args, 0, "")


def test_the_demo_shows_the_commands_as_typed_and_keeps_its_folder(tmp_path: Path) -> None:
    demo = Path(__file__).parent.parent / "examples" / "quickstart" / "demo.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MIGREPO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        ["bash", str(demo)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert '$ flask db migrate -m "create user table"' in result.stdout
    assert "$ flask db history --graph" in result.stdout
    [work] = tmp_path.glob("migrepo-demo.*")
    assert f"Everything it made is still in {work}" in result.stdout
    assert (work / "instance" / "app.db").is_file()
    assert len(list((work / "migrations" / "versions").glob("*.py"))) == 2
