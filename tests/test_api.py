"""Flask-Migrate's API functions, called in Python inside an app context."""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import migrepo
from tests.apps import RECORDING_ENV, Project

# Names and defaults of Flask-Migrate 4.1's API functions, as its documentation
# and release define them. Code written for Flask-Migrate calls them with
# these keywords, or positionally in this order.
FLASK_MIGRATE_SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "list_templates": [],
    "init": [("directory", None), ("multidb", False), ("template", None), ("package", False)],
    "revision": [
        ("directory", None),
        ("message", None),
        ("autogenerate", False),
        ("sql", False),
        ("head", "head"),
        ("splice", False),
        ("branch_label", None),
        ("version_path", None),
        ("rev_id", None),
    ],
    "migrate": [
        ("directory", None),
        ("message", None),
        ("sql", False),
        ("head", "head"),
        ("splice", False),
        ("branch_label", None),
        ("version_path", None),
        ("rev_id", None),
        ("x_arg", None),
    ],
    "edit": [("directory", None), ("revision", "current")],
    "merge": [
        ("directory", None),
        ("revisions", ""),
        ("message", None),
        ("branch_label", None),
        ("rev_id", None),
    ],
    "upgrade": [
        ("directory", None),
        ("revision", "head"),
        ("sql", False),
        ("tag", None),
        ("x_arg", None),
    ],
    "downgrade": [
        ("directory", None),
        ("revision", "-1"),
        ("sql", False),
        ("tag", None),
        ("x_arg", None),
    ],
    "show": [("directory", None), ("revision", "head")],
    "history": [
        ("directory", None),
        ("rev_range", None),
        ("verbose", False),
        ("indicate_current", False),
    ],
    "heads": [("directory", None), ("verbose", False), ("resolve_dependencies", False)],
    "branches": [("directory", None), ("verbose", False)],
    # Flask-Migrate's documentation lists head_only, its 4.1 code dropped it; migrepo
    # accepts it so that code written against either keeps working.
    "current": [("directory", None), ("verbose", False), ("head_only", False)],
    "stamp": [
        ("directory", None),
        ("revision", "head"),
        ("sql", False),
        ("tag", None),
        ("purge", False),
    ],
    "check": [("directory", None)],
}



class StderrHandler(logging.Handler):
    """Write each record to ``sys.stderr`` as it is when the record is logged."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


@pytest.fixture(autouse=True)
def log_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send log records to stderr, as they go in a process without logging set up.

    Alembic logs what it does, as under Flask-Migrate. In a plain process
    Python's last-resort handler writes warnings to stderr; under pytest,
    pytest's log-capture handlers stand in its way, and env.py files run by
    earlier tests may have left handlers on streams that are now closed.
    """
    monkeypatch.setattr(logging.getLogger(), "handlers", [StderrHandler(logging.WARNING)])


@pytest.fixture
def app(proj: Project) -> Iterator[Flask]:
    """The project's app, with its context pushed."""
    app = proj.app()
    with app.app_context():
        yield app


@pytest.fixture
def inited(proj: Project, app: Flask) -> Project:
    migrepo.init()
    return proj


@pytest.fixture
def two_revs(inited: Project, capsys: pytest.CaptureFixture[str]) -> Project:
    """r1 creates ``user``, r2 creates ``note``; the database is at r2."""
    migrepo.migrate(message="one", rev_id="r1")
    migrepo.upgrade()
    with inited.app(extra_table=True).app_context():
        migrepo.migrate(message="two", rev_id="r2")
    migrepo.upgrade()
    assert inited.version() == {"r2"}
    capsys.readouterr()
    return inited


@pytest.fixture
def branched(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> Project:
    """r1 is a branch point: r2 and r3 both revise it."""
    migrepo.revision(message="three", head="r1", splice=True, rev_id="r3")
    capsys.readouterr()
    return two_revs


def rev_file(proj: Project, rev: str, folder: Path | None = None) -> Path:
    [path] = (folder or proj.migrations / "versions").glob(f"{rev}_*.py")
    return path


def use_recording_env(proj: Project) -> None:
    (proj.migrations / "env.py").write_text(RECORDING_ENV, encoding="utf-8")


def recorded(proj: Project, name: str) -> list[object]:
    path = proj.migrations / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def error_lines(err: str) -> list[str]:
    """The ``Error: ...`` lines."""
    return [line for line in err.splitlines() if "Error: " in line]


def messages(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("INFO ")]


# --- signatures ----------------------------------------------------------------


def test_api_is_flask_migrates() -> None:
    assert set(FLASK_MIGRATE_SIGNATURES) <= set(migrepo.__all__)


@pytest.mark.parametrize("name", sorted(FLASK_MIGRATE_SIGNATURES))
def test_signature_matches_flask_migrate(name: str) -> None:
    parameters = inspect.signature(getattr(migrepo, name)).parameters.values()
    assert [(p.name, p.default) for p in parameters] == FLASK_MIGRATE_SIGNATURES[name]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)


# --- outside an app context ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(FLASK_MIGRATE_SIGNATURES) - {"list_templates"}))
def test_outside_app_context_exits_with_a_clear_message(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "migrations"
    function: Callable[..., None] = getattr(migrepo, name)
    for kwargs in ({}, {"directory": str(directory)}):
        with pytest.raises(SystemExit) as excinfo:
            function(**kwargs)
        assert excinfo.value.code == 1
        err = capsys.readouterr().err
        [line] = error_lines(err)
        assert "application context" in line
        assert "app_context()" in line
        assert "Traceback" not in err
    assert not directory.exists()


def test_list_templates_needs_no_app_context(capsys: pytest.CaptureFixture[str]) -> None:
    # Flask-Migrate's list_templates() reads only its package: it works anywhere.
    migrepo.list_templates()
    out = capsys.readouterr().out
    assert out.startswith("Available templates:\n")
    names = [line.split(" - ")[0] for line in out.splitlines() if " - " in line]
    assert names == ["aioflask", "aioflask-multidb", "flask", "flask-multidb"]


def test_app_without_the_extension(capsys: pytest.CaptureFixture[str]) -> None:
    with Flask("bare").app_context(), pytest.raises(SystemExit) as excinfo:
        migrepo.upgrade()
    assert excinfo.value.code == 1
    assert "Migrate(app, db)" in capsys.readouterr().err


# --- each function -------------------------------------------------------------


def test_list_templates(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.list_templates()
    names = [line.split(" - ")[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert names == ["aioflask", "aioflask-multidb", "flask", "flask-multidb"]


def test_init_default(proj: Project, app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.init()
    assert (proj.migrations / "env.py").is_file()
    assert (proj.migrations / "versions").is_dir()
    assert not (proj.migrations / "__init__.py").exists()
    assert "multidb=True" not in (proj.migrations / "env.py").read_text()
    assert "Generating" in capsys.readouterr().out


def test_init_keywords(proj: Project, app: Flask, tmp_path: Path) -> None:
    other = tmp_path / "other"
    migrepo.init(directory=str(other), multidb=True, template=None, package=True)
    assert "multidb=True" in (other / "env.py").read_text()
    assert (other / "__init__.py").is_file()
    assert (other / "versions" / "__init__.py").is_file()
    assert not proj.migrations.exists()


def test_init_template(proj: Project, app: Flask) -> None:
    migrepo.init(template="aioflask")
    assert "asynchronous=True" in (proj.migrations / "env.py").read_text()


def test_init_directory_as_path(proj: Project, app: Flask, tmp_path: Path) -> None:
    migrepo.init(directory=tmp_path / "as_path")
    assert (tmp_path / "as_path" / "env.py").is_file()


def test_init_twice_fails(inited: Project, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = sorted(p.name for p in inited.migrations.iterdir())
    with pytest.raises(SystemExit) as excinfo:
        migrepo.init()
    assert excinfo.value.code == 1
    assert "Error:" in capsys.readouterr().err
    assert sorted(p.name for p in inited.migrations.iterdir()) == before


def test_revision(inited: Project) -> None:
    migrepo.revision(message="empty one", rev_id="r1")
    text = rev_file(inited, "r1").read_text()
    assert rev_file(inited, "r1").name == "r1_empty_one.py"
    assert "down_revision = None" in text
    assert "op.create_table" not in text
    migrepo.upgrade()
    migrepo.revision(message="auto", autogenerate=True, rev_id="r2")
    text = rev_file(inited, "r2").read_text()
    assert "down_revision = 'r1'" in text
    assert "op.create_table('user'" in text
    migrepo.revision(head="r1", splice=True, branch_label="side", rev_id="r3")
    text = rev_file(inited, "r3").read_text()
    assert "down_revision = 'r1'" in text
    assert "branch_labels = ('side',)" in text


@pytest.mark.parametrize("function", [migrepo.revision, migrepo.migrate])
def test_version_path(inited: Project, app: Flask, function: Callable[..., None]) -> None:
    other = inited.root / "more_versions"
    other.mkdir()
    locations = os.pathsep.join([str(inited.migrations / "versions"), str(other)])

    @app.extensions["migrate"].migrate.configure
    def add_locations(config):  # type: ignore[no-untyped-def]
        config.set_main_option("version_locations", locations)
        return config

    migrepo.upgrade()
    function(version_path=str(other), rev_id="v1", message="elsewhere")
    assert rev_file(inited, "v1", other).name == "v1_elsewhere.py"
    assert inited.revision_files() == []


def test_migrate(inited: Project) -> None:
    use_recording_env(inited)
    migrepo.migrate(message="create user", rev_id="m1", x_arg="a=1")
    assert recorded(inited, "xargs") == [["a=1"]]
    path = rev_file(inited, "m1")
    assert path.name == "m1_create_user.py"
    assert "op.create_table('user'" in path.read_text()
    migrepo.upgrade()
    with inited.app(email=True).app_context():
        migrepo.migrate(
            message="email",
            sql=False,
            head="m1",
            splice=False,
            branch_label="mail",
            version_path=None,
            rev_id="m2",
            x_arg=["b=2", "c=3"],
        )
    assert recorded(inited, "xargs")[-1] == ["b=2", "c=3"]
    text = rev_file(inited, "m2").read_text()
    assert "down_revision = 'm1'" in text
    assert "branch_labels = ('mail',)" in text
    assert "email_address" in text


def test_migrate_without_changes_writes_no_file(
    inited: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    migrepo.migrate()
    migrepo.upgrade()
    before = inited.revision_files()
    capsys.readouterr()
    migrepo.migrate(message="nothing")
    assert inited.revision_files() == before
    assert "No changes in schema detected." in capsys.readouterr().err


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "editor.sh"
    script.write_text('#!/bin/sh\necho "# edited" >> "$1"\n')
    script.chmod(0o755)
    # edit() takes no environment: Alembic reads EDITOR from os.environ.
    monkeypatch.setenv("EDITOR", str(script))


@pytest.mark.usefixtures("editor")
def test_edit(two_revs: Project) -> None:
    r1, r2 = rev_file(two_revs, "r1"), rev_file(two_revs, "r2")
    before1, before2 = r1.read_text(), r2.read_text()
    migrepo.edit(revision="r1")
    assert r1.read_text() == before1 + "# edited\n"
    # The default is the database's current revision.
    migrepo.edit()
    assert r2.read_text() == before2 + "# edited\n"
    assert r1.read_text() == before1 + "# edited\n"


def test_merge(branched: Project) -> None:
    migrepo.merge(revisions=["r2", "r3"], message="join", branch_label="joined", rev_id="m1")
    text = rev_file(branched, "m1").read_text()
    assert rev_file(branched, "m1").name == "m1_join.py"
    assert "down_revision = ('r2', 'r3')" in text
    assert "branch_labels = ('joined',)" in text


def test_merge_without_revisions_writes_nothing(
    branched: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    before = branched.revision_files()
    with pytest.raises(SystemExit) as excinfo:
        migrepo.merge()
    assert excinfo.value.code == 1
    assert "Error: merge needs the revisions to join" in capsys.readouterr().err
    assert branched.revision_files() == before


def test_merge_heads_string(branched: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.merge(revisions="heads", rev_id="m1")
    capsys.readouterr()
    migrepo.heads()
    assert messages(capsys.readouterr().out) == ["m1 (head)"]


def test_upgrade(inited: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.migrate(rev_id="r1")
    capsys.readouterr()
    migrepo.upgrade(sql=True)
    assert "CREATE TABLE user" in capsys.readouterr().out
    assert inited.version() == set()
    use_recording_env(inited)
    migrepo.upgrade(revision="r1", tag="t1", x_arg=["a=1", "b=2"])
    assert inited.version() == {"r1"}
    assert "user" in inited.tables()
    assert recorded(inited, "tags") == ["t1"]
    assert recorded(inited, "xargs") == [["a=1", "b=2"]]


def test_upgrade_unknown_revision(inited: Project, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as excinfo:
        migrepo.upgrade(revision="nope")
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert "nope" in line
    assert "Traceback" not in err


@pytest.mark.parametrize("rev_id", ["../evil", "a" * 33])
@pytest.mark.parametrize("name", ["revision", "migrate", "merge"])
def test_invalid_rev_id_writes_nothing(
    inited: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, rev_id: str
) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as excinfo:
        getattr(migrepo, name)(rev_id=rev_id)
    assert excinfo.value.code == 1
    [line] = error_lines(capsys.readouterr().err)
    assert repr(rev_id) in line
    assert sorted(tmp_path.rglob("*")) == before


def test_downgrade(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.downgrade(sql=True)
    out = capsys.readouterr().out
    assert "DROP TABLE note" in out
    assert "DROP TABLE user" not in out
    assert two_revs.version() == {"r2"}
    migrepo.downgrade()
    assert two_revs.version() == {"r1"}
    assert "note" not in two_revs.tables()
    use_recording_env(two_revs)
    migrepo.downgrade(revision="base", tag="t2", x_arg="a=1")
    assert two_revs.version() == set()
    assert two_revs.tables() == {"alembic_version"}
    assert recorded(two_revs, "tags") == ["t2"]
    assert recorded(two_revs, "xargs") == [["a=1"]]


def test_show(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.show()
    assert capsys.readouterr().out.startswith("Rev: r2 (head)")
    migrepo.show(revision="r1")
    out = capsys.readouterr().out
    assert out.startswith("Rev: r1")
    assert "Revision ID: r1" in out


def test_history(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.history()
    assert messages(capsys.readouterr().out) == [
        "r1 -> r2 (head), two",
        "<base> -> r1, one",
    ]
    migrepo.downgrade()
    capsys.readouterr()
    migrepo.history(rev_range="base:r1", indicate_current=True)
    assert messages(capsys.readouterr().out) == ["<base> -> r1 (current), one"]
    migrepo.history(rev_range="r1:r2", verbose=True)
    out = capsys.readouterr().out
    assert "Rev: r2 (head)" in out
    assert "Rev: r1" in out


def test_heads(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.revision(head="base", branch_label="other", rev_id="o1")
    path = rev_file(two_revs, "o1")
    path.write_text(path.read_text().replace("depends_on = None", "depends_on = 'r2'"))
    capsys.readouterr()
    migrepo.heads()
    assert sorted(messages(capsys.readouterr().out)) == [
        "o1 (other) (head)",
        "r2 (effective head)",
    ]
    migrepo.heads(resolve_dependencies=True)
    assert messages(capsys.readouterr().out) == ["o1 (other) (head)"]
    migrepo.heads(verbose=True)
    out = capsys.readouterr().out
    assert "Rev: o1 (head)" in out
    assert "Also depends on: r2" in out
    assert "Branch names: other" in out
    assert "Rev: r2" in out


def test_branches(branched: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.branches()
    out = messages(capsys.readouterr().out)
    assert out[0] == "r1 (branchpoint)"
    assert sorted(out[1:]) == ["   -> r2 (head)", "   -> r3 (head)"]
    migrepo.branches(verbose=True)
    out = capsys.readouterr().out
    assert "Rev: r1 (branchpoint)" in out
    assert "Branches into:" in out


def test_current(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.current()
    assert messages(capsys.readouterr().out) == ["r2 (head)"]
    migrepo.current(verbose=True)
    out = capsys.readouterr().out
    assert "Rev: r2 (head)" in out
    assert f"Path: {rev_file(two_revs, 'r2')}" in out


def test_stamp(two_revs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.stamp(revision="r1")
    assert two_revs.version() == {"r1"}
    assert {"user", "note"} <= two_revs.tables()
    migrepo.stamp(sql=True)
    assert "INSERT INTO alembic_version (version_num) VALUES ('r2')" in capsys.readouterr().out
    assert two_revs.version() == {"r1"}
    use_recording_env(two_revs)
    migrepo.stamp(revision="base", tag="t3", purge=True)
    assert two_revs.version() == set()
    assert recorded(two_revs, "tags") == ["t3"]
    migrepo.stamp()
    assert two_revs.version() == {"r2"}


def test_check(inited: Project, capsys: pytest.CaptureFixture[str]) -> None:
    migrepo.migrate()
    migrepo.upgrade()
    capsys.readouterr()
    assert migrepo.check() is None
    assert "No new upgrade operations detected." in capsys.readouterr().out
    with inited.app(email=True).app_context(), pytest.raises(SystemExit) as excinfo:
        migrepo.check()
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert "New upgrade operations detected" in line


def test_positional_arguments_in_flask_migrate_order(
    two_revs: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = str(two_revs.migrations)
    migrepo.downgrade(directory, "r1")
    assert two_revs.version() == {"r1"}
    migrepo.upgrade(directory, "r2")
    assert two_revs.version() == {"r2"}
    migrepo.show(directory, "r1")
    assert capsys.readouterr().out.startswith("Rev: r1")
    migrepo.stamp(directory, "r1", False, None, True)
    assert two_revs.version() == {"r1"}
