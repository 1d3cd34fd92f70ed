"""Every `flask db` subcommand and option, run in-process against a SQLite file."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from flask import Flask

import migrepo
from migrepo import cli
from tests.apps import RECORDING_ENV, Project

TEMPLATES = Path(migrepo.__file__).parent / "templates"
db_group = cli.db



# --- helpers -------------------------------------------------------------------


def rev_file(proj: Project, rev: str, folder: Path | None = None) -> Path:
    [path] = (folder or proj.migrations / "versions").glob(f"{rev}_*.py")
    return path


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def messages(output: str) -> list[str]:
    """The output lines that are not Alembic's INFO logging."""
    return [line for line in output.splitlines() if not line.startswith("INFO ")]


def use_recording_env(proj: Project) -> None:
    (proj.migrations / "env.py").write_text(RECORDING_ENV, encoding="utf-8")


def recorded(proj: Project, name: str) -> list[object]:
    path = proj.migrations / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def set_version(proj: Project, rev: str) -> None:
    engine = sa.create_engine(proj.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :rev"), {"rev": rev})
    finally:
        engine.dispose()


def with_version_locations(proj: Project, *folders: Path) -> Flask:
    """An app whose Migrate adds ``folders`` to version_locations through a callback."""
    app = proj.app()
    locations = os.pathsep.join([str(proj.migrations / "versions"), *map(str, folders)])

    @app.extensions["migrate"].migrate.configure
    def add_locations(config):  # type: ignore[no-untyped-def]
        config.set_main_option("version_locations", locations)
        return config

    return app


# --- fixtures ------------------------------------------------------------------


@pytest.fixture
def inited(proj: Project) -> Project:
    proj.ok("init")
    return proj


@pytest.fixture
def ready(inited: Project) -> Project:
    """An initialised project whose (empty) database is at the (empty) head."""
    inited.ok("upgrade")
    return inited


@pytest.fixture
def two_revs(inited: Project) -> Project:
    """r1 creates ``user``, r2 creates ``note``; the database is at r2."""
    inited.ok("migrate", "-m", "one", "--rev-id", "r1")
    inited.ok("upgrade")
    inited.ok("migrate", "-m", "two", "--rev-id", "r2", app=inited.app(extra_table=True))
    inited.ok("upgrade")
    assert inited.version() == {"r2"}
    assert {"user", "note"} <= inited.tables()
    return inited


@pytest.fixture
def branched(two_revs: Project) -> Project:
    """r1 is a branch point: r2 and r3 both revise it."""
    two_revs.ok("revision", "-m", "three", "--head", "r1", "--splice", "--rev-id", "r3")
    return two_revs


@pytest.fixture
def editor(tmp_path: Path) -> Path:
    script = tmp_path / "editor.sh"
    script.write_text('#!/bin/sh\necho "# edited by the test editor" >> "$1"\n')
    script.chmod(0o755)
    return script


# --- list-templates and init ---------------------------------------------------


def test_list_templates_prints_the_four_templates(proj: Project) -> None:
    result = proj.ok("list-templates")
    lines = result.output.splitlines()
    assert lines[0] == "Available templates:"
    names = [line.split(" - ")[0] for line in lines if " - " in line]
    assert names == ["aioflask", "aioflask-multidb", "flask", "flask-multidb"]
    assert not proj.migrations.exists()


@pytest.mark.parametrize(
    ("args", "template"),
    [
        ((), "flask"),
        (("--multidb",), "flask-multidb"),
        (("-t", "aioflask"), "aioflask"),
        (("--template", "aioflask-multidb"), "aioflask-multidb"),
        (("-t", "flask-multidb"), "flask-multidb"),
    ],
)
def test_init_writes_the_chosen_template(
    proj: Project, args: tuple[str, ...], template: str
) -> None:
    result = proj.ok("init", *args)
    mig = proj.migrations
    assert {p.name for p in mig.iterdir()} == {
        "HEADS",
        "README",
        "alembic.ini",
        "env.py",
        "script.py.mako",
        "versions",
    }
    assert list((mig / "versions").iterdir()) == []
    source = TEMPLATES / template
    assert (mig / "env.py").read_text() == (source / "env.py").read_text()
    assert (mig / "README").read_text() == (source / "README").read_text()
    assert "Generating" in result.output
    env = (mig / "env.py").read_text()
    assert ("multidb=True" in env) is template.endswith("multidb")
    assert ("asynchronous=True" in env) is template.startswith("aioflask")


def test_init_multidb_env_is_multidb(proj: Project) -> None:
    proj.ok("init", "--multidb")
    assert "multidb=True" in (proj.migrations / "env.py").read_text()


@pytest.mark.parametrize("trailing", ["", "/"])
def test_init_from_a_template_directory(proj: Project, tmp_path: Path, trailing: str) -> None:
    template = tmp_path / "templates" / "mine"
    template.mkdir(parents=True)
    (template / "README").write_text("My own template.\n")
    (template / "env.py").write_text("# custom env.py\n")
    (template / "script.py.mako").write_text("# custom script ${up_revision}\n")
    (template / "alembic.ini.mako").write_text("# custom ini\n[alembic]\n")
    proj.ok("init", "-t", f"{template}{trailing}")
    mig = proj.migrations
    assert (mig / "env.py").read_text() == "# custom env.py\n"
    assert (mig / "README").read_text() == "My own template.\n"
    assert (mig / "script.py.mako").read_text() == "# custom script ${up_revision}\n"
    assert (mig / "alembic.ini").read_text().startswith("# custom ini\n[alembic]")
    assert (mig / "versions").is_dir()


def test_init_from_a_missing_template_directory(proj: Project, tmp_path: Path) -> None:
    result = proj.run("init", "-t", str(tmp_path / "nowhere" / "mine"))
    assert result.exit_code != 0
    assert len(error_lines(result.output)) == 1
    assert not proj.migrations.exists()


@pytest.mark.parametrize("template", ["aioflask", "flask"])
def test_init_multidb_picks_the_multidb_version_of_a_template(
    proj: Project, template: str
) -> None:
    proj.ok("init", "--multidb", "-t", template)
    expected = TEMPLATES / f"{template}-multidb" / "env.py"
    assert (proj.migrations / "env.py").read_text() == expected.read_text()


def test_init_with_an_unknown_template_name(proj: Project) -> None:
    result = proj.run("init", "-t", "nosuch")
    assert result.exit_code == 2
    assert "no template named 'nosuch', and no folder of that name in the working directory: " \
        "run `flask db list-templates`" in result.output
    assert not proj.migrations.exists()


def test_init_finds_a_template_folder_in_the_working_directory(
    tmp_path: Path, sqlite_url: str, flask_app_file: Callable[..., Path]
) -> None:
    app_file = flask_app_file(sqlite_url)
    template = tmp_path / "mytpl"
    template.mkdir()
    (template / "README").write_text("My own template.\n")
    (template / "env.py").write_text("# custom env.py\n")
    (template / "script.py.mako").write_text("# custom script ${up_revision}\n")
    (template / "alembic.ini.mako").write_text("# custom ini\n[alembic]\n")
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", str(app_file), "db", "init", "-t", "mytpl"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "migrations" / "env.py").read_text() == "# custom env.py\n"


def alembic_lines(output: str) -> list[str]:
    """``init``'s lines, with the quotes Alembic before 1.16 put around paths removed."""
    return [re.sub(r"'(/[^']*)'", r"\1", line) for line in output.splitlines()]


@pytest.mark.parametrize("package", [False, True])
def test_init_says_where_the_url_comes_from(proj: Project, package: bool) -> None:
    lines = alembic_lines(proj.ok("init", *(["--package"] if package else [])).output)
    mig = proj.migrations
    # The lines about the files are Alembic's, as Flask-Migrate prints them.
    assert lines[:2] == [
        f"Creating directory {mig} ...  done",
        f"Creating directory {mig / 'versions'} ...  done",
    ]
    files = ["script.py.mako", "README", "env.py", "alembic.ini"]
    assert sorted(lines[2:6]) == sorted(f"Generating {mig / name} ...  done" for name in files)
    added = [f"Adding {mig / '__init__.py'} ...  done",
             f"Adding {mig / 'versions' / '__init__.py'} ...  done"]
    assert lines[6:-1] == (added if package else [])
    assert lines[-1] == (
        "The database URL comes from the app (SQLALCHEMY_DATABASE_URI and SQLALCHEMY_BINDS); "
        f"edit {mig / 'alembic.ini'} for Alembic's other settings and logging."
    )
    assert not any("Please edit" in line for line in lines)


def test_init_from_a_custom_template_keeps_alembics_last_line(
    proj: Project, tmp_path: Path
) -> None:
    template = tmp_path / "mine"
    template.mkdir()
    for name in ("README", "env.py", "script.py.mako", "alembic.ini.mako"):
        (template / name).write_text("[alembic]\n" if name.endswith("ini.mako") else "# x\n")
    lines = alembic_lines(proj.ok("init", "-t", str(template)).output)
    assert lines[-1] == (
        "Please edit configuration/connection/logging settings in "
        f"{proj.migrations / 'alembic.ini'} before proceeding."
    )


@pytest.mark.parametrize("package", [False, True])
def test_init_package(proj: Project, package: bool) -> None:
    proj.ok("init", *(["--package"] if package else []))
    assert (proj.migrations / "__init__.py").exists() is package
    assert (proj.migrations / "versions" / "__init__.py").exists() is package


def test_init_into_another_directory(proj: Project, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "migs"
    proj.ok("init", "-d", str(other))
    assert (other / "env.py").is_file()
    assert (other / "versions").is_dir()
    assert not proj.migrations.exists()
    # The other directory works for the following commands too.
    proj.ok("revision", "-d", str(other), "--rev-id", "r1")
    assert rev_file(proj, "r1", other / "versions").is_file()


# --- revision and migrate ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "autogenerated"),
    [
        (("revision",), False),
        (("revision", "--autogenerate"), True),
        (("migrate",), True),
    ],
)
def test_revision_message_and_rev_id(
    ready: Project, args: tuple[str, ...], autogenerated: bool
) -> None:
    result = ready.ok(*args, "-m", "add users", "--rev-id", "abc123")
    path = ready.migrations / "versions" / "abc123_add_users.py"
    assert ready.revision_files() == [path]
    assert f"Generating {path}" in result.output
    text = path.read_text()
    assert text.startswith('"""add users')
    assert "revision = 'abc123'" in text
    assert "down_revision = None" in text
    assert ("op.create_table('user'" in text) is autogenerated
    # Writing a revision never touches the database.
    assert ready.tables() == {"alembic_version"}


def test_revision_sql_needs_revision_environment(inited: Project) -> None:
    refused = inited.run("revision", "--sql", "--rev-id", "s1")
    assert refused.exit_code == 1
    [line] = error_lines(refused.output)
    assert "--sql" in line and "revision_environment" in line
    assert inited.revision_files() == []


def test_revision_sql_with_revision_environment(inited: Project) -> None:
    app = inited.app()

    @app.extensions["migrate"].migrate.configure
    def revision_environment(config):  # type: ignore[no-untyped-def]
        config.set_main_option("revision_environment", "true")
        return config

    inited.ok("revision", "--sql", "-m", "offline", "--rev-id", "s1", app=app)
    assert rev_file(inited, "s1").name == "s1_offline.py"
    assert inited.tables() == set()


def test_migrate_sql_is_refused(ready: Project) -> None:
    result = ready.run("migrate", "--sql", "--rev-id", "s1")
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert "--sql" in line and "--autogenerate" in line
    assert ready.revision_files() == []


@pytest.mark.parametrize("command", ["revision", "migrate"])
def test_head_and_splice(ready: Project, command: str) -> None:
    ready.ok("revision", "--rev-id", "r1")
    ready.ok("revision", "--rev-id", "r2")
    ready.ok("upgrade")

    refused = ready.run(command, "--head", "r1", "--rev-id", "n1")
    assert refused.exit_code == 1
    [line] = error_lines(refused.output)
    assert "--splice" in line
    assert len(ready.revision_files()) == 2

    ready.ok(command, "--head", "r1", "--splice", "--rev-id", "n1")
    text = rev_file(ready, "n1").read_text()
    assert "down_revision = 'r1'" in text
    assert ("op.create_table('user'" in text) is (command == "migrate")
    heads = messages(ready.ok("heads").output)
    assert sorted(heads) == ["n1 (head)", "r2 (head)"]


@pytest.mark.parametrize("command", ["revision", "migrate"])
def test_branch_label(ready: Project, command: str) -> None:
    ready.ok(command, "--branch-label", "feature", "--rev-id", "f1")
    assert "branch_labels = ('feature',)" in rev_file(ready, "f1").read_text()
    assert messages(ready.ok("heads").output) == ["f1 (feature) (head)"]
    ready.ok("revision", "--head", "feature@head", "--rev-id", "f2")
    assert "down_revision = 'f1'" in rev_file(ready, "f2").read_text()


@pytest.mark.parametrize("command", ["revision", "migrate"])
def test_version_path(ready: Project, command: str) -> None:
    other = ready.root / "more_versions"
    other.mkdir()
    app = with_version_locations(ready, other)
    ready.ok(command, "--version-path", str(other), "--rev-id", "v1", app=app)
    assert rev_file(ready, "v1", other).is_file()
    assert ready.revision_files() == []
    assert messages(ready.ok("heads", app=app).output) == ["v1 (head)"]


def test_version_path_not_in_version_locations(ready: Project) -> None:
    other = ready.root / "unlisted"
    other.mkdir()
    result = ready.run("revision", "--version-path", str(other), "--rev-id", "v1")
    assert result.exit_code == 2  # a bad option value, as for --rev-id
    assert len(error_lines(result.output)) == 1
    assert list(other.iterdir()) == []


def test_migrate_x_arg_reaches_env(ready: Project) -> None:
    use_recording_env(ready)
    ready.ok("migrate", "-x", "k=v", "--x-arg", "k2=v2", "--rev-id", "m1")
    assert recorded(ready, "xargs") == [["k=v", "k2=v2"]]
    assert "op.create_table('user'" in rev_file(ready, "m1").read_text()


def test_migrate_without_changes_writes_no_file(inited: Project) -> None:
    inited.ok("migrate", "-m", "initial")
    inited.ok("upgrade")
    [first] = inited.revision_files()
    result = inited.ok("migrate", "-m", "nothing")
    assert "No changes in schema detected." in result.output
    assert inited.revision_files() == [first]


# --- edit and merge ------------------------------------------------------------


@pytest.mark.parametrize("args", [("r2",), ()], ids=["rev", "default-head"])
def test_edit_opens_the_revision_in_editor(
    two_revs: Project, editor: Path, args: tuple[str, ...]
) -> None:
    before = rev_file(two_revs, "r2").read_text()
    other = rev_file(two_revs, "r1").read_text()
    two_revs.ok("edit", *args, env={"EDITOR": str(editor)})
    assert rev_file(two_revs, "r2").read_text() == before + "# edited by the test editor\n"
    assert rev_file(two_revs, "r1").read_text() == other


def test_merge_two_heads(branched: Project) -> None:
    branched.ok(
        "merge", "-m", "join them", "--branch-label", "joined", "--rev-id", "m1", "r2", "r3"
    )
    path = rev_file(branched, "m1")
    assert path.name == "m1_join_them.py"
    text = path.read_text()
    assert "down_revision = ('r2', 'r3')" in text
    assert "branch_labels = ('joined',)" in text
    assert messages(branched.ok("heads").output) == ["m1 (joined) (head)"]


def test_merge_requires_revisions(branched: Project) -> None:
    before = branched.revision_files()
    result = branched.run("merge", "-m", "join")
    assert result.exit_code == 2
    assert "Missing argument 'REVISIONS...'" in result.output
    assert branched.revision_files() == before
    help_text = branched.ok("merge", "--help").output
    assert "merge [OPTIONS] REVISIONS..." in help_text
    assert "merges REVISIONS (required)" in help_text


def test_merge_heads_keyword(branched: Project) -> None:
    branched.ok("merge", "heads", "--rev-id", "m1")
    text = rev_file(branched, "m1").read_text()
    assert "down_revision = ('r2', 'r3')" in text or "down_revision = ('r3', 'r2')" in text


# --- upgrade and downgrade -----------------------------------------------------


def test_upgrade_to_head(inited: Project) -> None:
    inited.ok("migrate", "--rev-id", "r1")
    inited.ok("upgrade")
    assert inited.version() == {"r1"}
    assert inited.tables() == {"alembic_version", "user"}


def test_upgrade_to_a_revision(two_revs: Project) -> None:
    two_revs.ok("downgrade", "base")
    two_revs.ok("upgrade", "r1")
    assert two_revs.version() == {"r1"}
    assert two_revs.tables() == {"alembic_version", "user"}


def test_upgrade_sql_prints_and_leaves_the_database(inited: Project) -> None:
    inited.ok("migrate", "--rev-id", "r1")
    # Autogenerate made the (empty) version table; the upgrade must not touch it.
    assert inited.tables() == {"alembic_version"}
    result = inited.ok("upgrade", "--sql")
    assert "CREATE TABLE user" in result.output
    assert "CREATE TABLE alembic_version" in result.output
    assert "INSERT INTO alembic_version (version_num) VALUES ('r1')" in result.output
    assert inited.tables() == {"alembic_version"}
    assert inited.version() == set()


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_tag_and_x_arg_reach_env(two_revs: Project, command: str) -> None:
    use_recording_env(two_revs)
    target = "head" if command == "upgrade" else "r1"
    two_revs.ok(command, "--tag", "release-1", "-x", "a=1", "-x", "b=2", target)
    assert recorded(two_revs, "tags") == ["release-1"]
    assert recorded(two_revs, "xargs") == [["a=1", "b=2"]]
    assert two_revs.version() == {"r2" if command == "upgrade" else "r1"}


def test_downgrade_default_is_one_step(two_revs: Project) -> None:
    two_revs.ok("downgrade")
    assert two_revs.version() == {"r1"}
    assert two_revs.tables() == {"alembic_version", "user"}


def test_downgrade_to_base(two_revs: Project) -> None:
    two_revs.ok("downgrade", "base")
    assert two_revs.version() == set()
    assert two_revs.tables() == {"alembic_version"}


def test_downgrade_sql_defaults_to_one_step_back_from_head(two_revs: Project) -> None:
    result = two_revs.ok("downgrade", "--sql")
    assert "DROP TABLE note" in result.output
    assert "DROP TABLE user" not in result.output
    assert "UPDATE alembic_version SET version_num='r1'" in result.output
    assert two_revs.version() == {"r2"}
    assert {"user", "note"} <= two_revs.tables()


# --- show, history, heads, branches, current -----------------------------------


@pytest.mark.parametrize(("args", "rev"), [((), "r2"), (("r1",), "r1"), (("head",), "r2")])
def test_show(two_revs: Project, args: tuple[str, ...], rev: str) -> None:
    out = two_revs.ok("show", *args).output
    assert out.splitlines()[0].startswith(f"Rev: {rev}")
    assert f"Revision ID: {rev}" in out


def test_history_range(branched: Project) -> None:
    out = messages(branched.ok("history", "-r", "r1:r2").output)
    assert out == ["r1 -> r2 (head), two", "<base> -> r1 (branchpoint), one"]
    everything = messages(branched.ok("history").output)
    assert len(everything) == 3
    assert "r1 -> r3 (head), three" in everything


def test_history_verbose(two_revs: Project) -> None:
    out = two_revs.ok("history", "--verbose").output
    assert "Rev: r2 (head)" in out
    assert "Rev: r1" in out
    assert "Parent: <base>" in out
    assert str(rev_file(two_revs, "r1")) in out


def test_history_indicate_current(two_revs: Project) -> None:
    two_revs.ok("downgrade")
    out = messages(two_revs.ok("history", "-i").output)
    assert out == ["r1 -> r2 (head), two", "<base> -> r1 (current), one"]


def test_heads_verbose(branched: Project) -> None:
    out = branched.ok("heads", "-v").output
    assert "Rev: r2 (head)" in out
    assert "Rev: r3 (head)" in out
    assert "Rev: r1" not in out


def test_heads_resolve_dependencies(two_revs: Project) -> None:
    two_revs.ok("revision", "--head", "base", "--branch-label", "other", "--rev-id", "o1")
    path = rev_file(two_revs, "o1")
    text = path.read_text()
    assert "depends_on = None" in text
    path.write_text(text.replace("depends_on = None", "depends_on = 'r2'"))
    assert sorted(messages(two_revs.ok("heads").output)) == [
        "o1 (other) (head)",
        "r2 (effective head)",
    ]
    resolved = messages(two_revs.ok("heads", "--resolve-dependencies").output)
    assert resolved == ["o1 (other) (head)"]


def test_branches(branched: Project) -> None:
    out = messages(branched.ok("branches").output)
    assert out[0] == "r1 (branchpoint)"
    assert sorted(out[1:3]) == ["   -> r2 (head)", "   -> r3 (head)"]
    verbose = branched.ok("branches", "-v").output
    assert "Rev: r1 (branchpoint)" in verbose
    assert "Branches into: r3, r2" in verbose or "Branches into: r2, r3" in verbose


def test_branches_without_branch_points(two_revs: Project) -> None:
    assert messages(two_revs.ok("branches").output) == []


def test_current(two_revs: Project) -> None:
    assert messages(two_revs.ok("current").output) == ["r2 (head)"]
    two_revs.ok("downgrade")
    verbose = two_revs.ok("current", "-v").output
    assert "Rev: r1" in verbose
    assert f"Path: {rev_file(two_revs, 'r1')}" in verbose


# --- stamp and check -----------------------------------------------------------


def test_stamp_sets_the_version_without_migrating(two_revs: Project) -> None:
    two_revs.ok("downgrade", "base")
    two_revs.ok("stamp", "r1")
    assert two_revs.version() == {"r1"}
    assert two_revs.tables() == {"alembic_version"}
    two_revs.ok("stamp")
    assert two_revs.version() == {"r2"}


def test_stamp_sql(two_revs: Project) -> None:
    two_revs.ok("downgrade", "base")
    result = two_revs.ok("stamp", "--sql", "r1")
    assert "INSERT INTO alembic_version (version_num) VALUES ('r1')" in result.output
    assert two_revs.version() == set()


def test_stamp_tag(two_revs: Project) -> None:
    use_recording_env(two_revs)
    two_revs.ok("stamp", "--tag", "t1", "r1")
    assert recorded(two_revs, "tags") == ["t1"]
    assert two_revs.version() == {"r1"}


def test_stamp_purge(two_revs: Project) -> None:
    set_version(two_revs, "gone")
    refused = two_revs.run("stamp", "r1")
    assert refused.exit_code == 1
    assert len(error_lines(refused.output)) == 1
    assert two_revs.version() == {"gone"}
    two_revs.ok("stamp", "--purge", "r1")
    assert two_revs.version() == {"r1"}


def test_check(inited: Project) -> None:
    inited.ok("migrate")
    inited.ok("upgrade")
    in_sync = inited.ok("check")
    assert "No new upgrade operations detected." in in_sync.output
    differs = inited.run("check", app=inited.app(email=True))
    assert differs.exit_code == 1
    [line] = error_lines(differs.output)
    assert "New upgrade operations detected" in line
    assert "email_address" in line


# --- directories and -x --------------------------------------------------------


def test_group_directory_option(proj: Project, tmp_path: Path) -> None:
    group_dir = tmp_path / "group"
    proj.ok("-d", str(group_dir), "init")
    assert (group_dir / "env.py").is_file()
    assert not proj.migrations.exists()
    proj.ok("-d", str(group_dir), "revision", "--rev-id", "g1")
    assert rev_file(proj, "g1", group_dir / "versions").is_file()


def test_command_directory_wins_over_group_directory(proj: Project, tmp_path: Path) -> None:
    group_dir, command_dir = tmp_path / "group", tmp_path / "command"
    proj.ok("-d", str(group_dir), "init", "-d", str(command_dir))
    assert (command_dir / "env.py").is_file()
    assert not group_dir.exists()
    proj.ok("-d", str(group_dir), "revision", "-d", str(command_dir), "--rev-id", "c1")
    assert rev_file(proj, "c1", command_dir / "versions").is_file()
    failed = proj.run("-d", str(group_dir), "revision", "--rev-id", "c2")
    assert failed.exit_code == 1
    assert "flask db init" in error_lines(failed.output)[0]


def test_flask_db_directory_env_var(proj: Project, tmp_path: Path) -> None:
    env_dir, option_dir = tmp_path / "from_env", tmp_path / "from_option"
    env = {"FLASK_DB_DIRECTORY": str(env_dir)}
    proj.ok("init", env=env)
    assert (env_dir / "env.py").is_file()
    assert not proj.migrations.exists()
    proj.ok("revision", "--rev-id", "e1", env=env)
    assert rev_file(proj, "e1", env_dir / "versions").is_file()
    # An explicit -d wins over the environment.
    proj.ok("-d", str(option_dir), "init", env=env)
    assert (option_dir / "env.py").is_file()


def test_x_args_reach_env_exactly_once(inited: Project) -> None:
    use_recording_env(inited)
    inited.ok("-x", "a=1", "upgrade", "-x", "b=2")
    assert recorded(inited, "xargs") == [["a=1", "b=2"]]


def test_group_x_arg_reaches_current(inited: Project) -> None:
    use_recording_env(inited)
    inited.ok("-x", "a=1", "current")
    assert recorded(inited, "xargs") == [["a=1"]]


@pytest.mark.parametrize(
    "args",
    [
        ("-x", "a=1", "downgrade", "-x", "b=2", "base"),
        ("-x", "a=1", "migrate", "-x", "b=2"),
        ("-x", "a=1", "revision", "--autogenerate"),
        ("-x", "a=1", "stamp", "head"),
        ("-x", "a=1", "check"),
        ("-x", "a=1", "history", "-i"),
    ],
    ids=lambda args: args[2],
)
def test_group_x_arg_reaches_every_command_that_runs_env(
    inited: Project, args: tuple[str, ...]
) -> None:
    inited.ok("migrate", "--rev-id", "r1")
    inited.ok("upgrade")
    use_recording_env(inited)
    inited.ok(*args)
    expected = ["a=1", "b=2"] if "b=2" in args else ["a=1"]
    assert recorded(inited, "xargs") == [expected]


# --- help ----------------------------------------------------------------------


def test_group_help(proj: Project) -> None:
    out = proj.ok("--help").output
    assert inspect.getdoc(db_group.callback).splitlines()[0] in out  # type: ignore[union-attr]
    for name in db_group.commands:
        assert name in out
    for param in db_group.params:
        assert isinstance(param, click.Option)
        assert param.help and param.help.strip()


@pytest.mark.parametrize("name", sorted(db_group.commands))
def test_every_command_has_help(proj: Project, name: str) -> None:
    command = db_group.commands[name]
    doc = inspect.getdoc(command.callback)
    assert doc
    first_line = doc.splitlines()[0]
    out = proj.ok(name, "--help").output
    assert " ".join(first_line.split()) in " ".join(out.split())
    options = [p for p in command.params if isinstance(p, click.Option)]
    for option in options:
        assert option.help and option.help.strip(), f"{name} {option.opts} has no help"
        assert option.opts[-1] in out


# --- errors --------------------------------------------------------------------


def test_unknown_revision_is_one_line(two_revs: Project) -> None:
    result = two_revs.run("upgrade", "nope")
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert "nope" in line
    assert "Traceback" not in result.output
    assert two_revs.version() == {"r2"}


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--traceback",), {}), ((), {"MIGREPO_TRACEBACK": "1"})],
    ids=["option", "env"],
)
def test_traceback_option_prints_the_traceback(
    two_revs: Project, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = two_revs.run(*args, "upgrade", "nope", env=env)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    [line] = error_lines(result.output)
    assert "nope" in line


@pytest.mark.parametrize(
    "args", [("upgrade",), ("migrate",), ("current",), ("history",), ("heads",)]
)
def test_command_before_init_says_to_run_init(proj: Project, args: tuple[str, ...]) -> None:
    result = proj.run(*args)
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert "flask db init" in line
    assert "Traceback" not in result.output
    assert not proj.migrations.exists()


def test_init_into_a_non_empty_directory(proj: Project) -> None:
    proj.migrations.mkdir()
    (proj.migrations / "keep.txt").write_text("keep me")
    result = proj.run("init")
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert str(proj.migrations) in line
    assert "Traceback" not in result.output
    assert files_under(proj.migrations) == {"keep.txt": b"keep me"}


def test_init_onto_a_file(proj: Project) -> None:
    proj.migrations.write_text("not a directory")
    result = proj.run("init")
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert str(proj.migrations) in line
    assert "Traceback" not in result.output
    assert proj.migrations.read_text() == "not a directory"


@pytest.mark.parametrize("rev_range", ["a:b:c", "r1:r2:"])
def test_malformed_rev_range(two_revs: Project, rev_range: str) -> None:
    result = two_revs.run("history", "-r", rev_range)
    assert result.exit_code == 2
    assert rev_range in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("rev_id", ["../evil", "a" * 33])
@pytest.mark.parametrize("command", ["revision", "migrate", "merge"])
def test_invalid_rev_id_writes_nothing(
    branched: Project, tmp_path: Path, command: str, rev_id: str
) -> None:
    before = files_under(tmp_path)
    args = ("r2", "r3") if command == "merge" else ()
    result = branched.run(command, "--rev-id", rev_id, *args)
    assert result.exit_code == 2
    [line] = error_lines(result.output)
    assert "--rev-id" in line
    assert files_under(tmp_path) == before


def test_current_lists_several_heads_in_file_order(proj: Project) -> None:
    """Alembic's order came from a set of objects: it changed from run to run."""
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    for rev in ("b2", "c3", "d4", "e5", "f6", "g7"):
        proj.ok("revision", "--head", "a1", "--splice", "--rev-id", rev)
    proj.ok("upgrade", "heads")
    expected = [f"{rev} (head)" for rev in ("b2", "c3", "d4", "e5", "f6", "g7")]
    assert proj.ok("heads").output.splitlines() == expected
    for _ in range(3):
        lines = proj.ok("current").output.splitlines()
        assert [line for line in lines if not line.startswith("INFO")] == expected
