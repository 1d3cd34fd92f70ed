"""The one error policy (migrepo.engine.explain), seen from `flask db` and the API.

The table in test_bad_input.py checks that each error is one line and changes
nothing; these tests check what the lines say.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import migrepo
from tests.apps import Project, project

COMPILE_ERROR = '''"""a column type SQLite cannot render"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "r2"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("t", sa.Column("a", postgresql.ARRAY(sa.Integer)))


def downgrade():
    op.drop_table("t")
'''


MULTIDB_REVISION = '''"""f1"""
revision = "f1"
down_revision = "r1"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    pass


def downgrade(engine_name):
    pass
'''


def error_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if "Error:" in line]
    return line


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Project]:
    """r1 is applied."""
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init")
        proj.ok("migrate", "-m", "one", "--rev-id", "r1")
        proj.ok("upgrade")
        yield proj


def lose_applied_revision(proj: Project) -> None:
    """f1 was applied, then its file deleted before it was ever committed, cache and all."""
    feature = proj.write_revision("f1", "r1", name="feature")
    proj.ok("upgrade")
    feature.unlink()
    shutil.rmtree(proj.migrations / ".migrepo")


# --- the API prints what `flask db` prints ------------------------------------------


def test_api_errors_are_the_lines_the_cli_prints(
    proj: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flask-Migrate logs `ERROR [flask_migrate] Error: ...` once env.py has set up
    logging, and a bare `Error: ...` before: migrepo prints `Error: ...` either way."""
    with proj.app().app_context():
        migrepo.upgrade()  # env.py runs, and configures logging from alembic.ini
        capsys.readouterr()
        with pytest.raises(SystemExit) as excinfo:
            migrepo.upgrade(revision="nope")
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    cli = proj.run("upgrade", "nope")
    assert [line for line in err.splitlines() if "Error" in line] == [error_line(cli.stderr)]
    assert "ERROR [" not in err


def test_api_errors_get_the_hints_too(proj: Project, capsys: pytest.CaptureFixture[str]) -> None:
    proj.write_revision("a1", "r1", name="a")
    proj.write_revision("b1", "r1", name="b")
    with proj.app().app_context(), pytest.raises(SystemExit):
        migrepo.revision(message="x")
    line = error_line(capsys.readouterr().err)
    assert line.startswith("Error: there are 2 heads (a1, b1); pass `--head <revision>`")


# --- a database ahead of the work tree ------------------------------------------------


def test_verify_reports_a_database_ahead_of_the_work_tree(proj: Project) -> None:
    feature = proj.write_revision("f1", "r1", name="feature")
    proj.ok("upgrade")
    feature.unlink()

    result = proj.run("verify")
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "the database is at revision f1, which this work tree does not have" in line
    assert "run `flask db sync`" in line


@pytest.mark.parametrize("args", [("current",), ("upgrade",)])
def test_a_revision_lost_before_it_was_committed_names_the_way_out(
    proj: Project, args: tuple[str, ...]
) -> None:
    """Neither git nor the cache has its content: sync cannot help, so do not send
    the user there; name stamp --purge and restoring the file."""
    lose_applied_revision(proj)

    result = proj.run(*args)
    assert result.exit_code == 1
    line = error_line(result.output)
    assert "the database is at revision f1, which this work tree does not have" in line
    assert "neither in git nor in migrepo's cache" in line
    assert "restore its revision file" in line
    assert "flask db stamp --purge" in line
    assert "run `flask db sync`" not in line
    assert proj.version() == {"f1"}
    # The way out named works.
    proj.ok("stamp", "--purge", "r1")
    assert proj.ok("current").stdout == "r1 (head)\n"


def test_api_history_explains_a_database_ahead(
    proj: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = proj.write_revision("f1", "r1", name="feature")
    proj.ok("upgrade")
    feature.unlink()
    with proj.app().app_context(), pytest.raises(SystemExit):
        migrepo.history(indicate_current=True)
    captured = capsys.readouterr()
    assert error_line(captured.err).startswith("Error: the database is at revision f1")
    assert captured.out == ""


def test_verify_names_the_way_out_for_a_lost_revision(proj: Project) -> None:
    lose_applied_revision(proj)
    result = proj.run("verify")
    assert result.exit_code == 1
    assert "flask db stamp --purge" in result.output


def test_history_without_i_still_lists_a_database_ahead(proj: Project) -> None:
    feature = proj.write_revision("f1", "r1", name="feature")
    proj.ok("upgrade")
    feature.unlink()
    assert proj.ok("history").stdout == "<base> -> r1 (head), one\n"


# --- a file that cannot be read is not a migration that failed ----------------------


@pytest.mark.parametrize("index", [True, False])
@pytest.mark.parametrize("command", ["history", "heads", "current", "upgrade"])
def test_a_file_that_fails_to_import_is_named_as_unreadable(
    proj: Project, command: str, index: bool
) -> None:
    path = proj.write_revision("r2", "r1", name="broken")
    path.write_text(path.read_text() + "\nraise RuntimeError('boom at import')\n")
    proj.config["MIGREPO_INDEX"] = index

    result = proj.run(command)
    if index and command in ("history", "heads", "current"):
        assert result.exit_code == 0  # read from the source: the file never runs
        return
    assert result.exit_code == 1
    line = error_line(result.output)
    assert line.startswith("Error: cannot read revision file ")
    assert "r2_broken.py:18: RuntimeError: boom at import" in line
    assert "failed" not in line
    assert proj.version() == {"r1"}


def test_a_failing_step_still_names_its_revision(proj: Project) -> None:
    path = proj.write_revision("r2", "r1", name="fails")
    path.write_text(path.read_text().replace("def upgrade():\n    pass", (
        "def upgrade():\n    raise RuntimeError('boom in upgrade')"
    )))
    line = error_line(proj.run("upgrade").output)
    assert line.startswith("Error: revision r2 failed: RuntimeError: boom in upgrade (at ")
    assert "r2_fails.py:" in line


# --- SQLAlchemy's errors, labelled by kind --------------------------------------------


def test_a_compile_error_is_not_a_database_error(proj: Project) -> None:
    (proj.migrations / "versions" / "r2_array.py").write_text(COMPILE_ERROR)
    result = proj.run("upgrade")
    assert result.exit_code == 1
    line = error_line(result.output)
    assert line.startswith("Error: revision r2 failed: cannot compile SQL for this database: ")
    assert "can't render element of type ARRAY" in line
    assert "database error" not in line
    assert proj.version() == {"r1"}


# --- the one traceback locator ------------------------------------------------------


def test_the_locator_tells_loading_from_running(tmp_path: Path) -> None:
    from alembic.util import load_python_file

    from migrepo._origin import locate

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "r1_x.py").write_text(
        'revision = "r1"\ndown_revision = None\n\n'
        "def upgrade(engine_name=''):\n    raise ValueError('in upgrade')\n"
    )
    module = load_python_file(str(versions), "r1_x.py")
    try:
        module.upgrade(engine_name="users")
    except ValueError as exc:
        origin = locate(exc)
    assert origin is not None
    assert (origin.revision, origin.engine_name, origin.loading) == ("r1", "users", False)
    assert origin.line == 5 and origin.path == str(versions / "r1_x.py")

    (versions / "r2_y.py").write_text('"""doc"""\nimport no_such_module_here\nrevision = "r2"\n')
    try:
        load_python_file(str(versions), "r2_y.py")
    except ImportError as exc:
        assert locate(exc) is None  # no revision identifiers yet, and no directory given
        origin = locate(exc, tmp_path)
    assert origin is not None
    assert (origin.revision, origin.loading, origin.line) == (None, True, 2)


# --- views: the read commands return what the CLI prints ----------------------------


def test_history_views_return_text(proj: Project, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from migrepo.engine import views

    proj.ok("revision", "-m", "two", "--rev-id", "r2")
    with proj.app().app_context():
        drawn = views.history(graph=True, indicate_current=True)
        exported = views.history(output_format="json", rev_range="r1:r2")
        footer = views.show(revision="r2")
    assert capsys.readouterr().out.count("Rev: r2") == 1  # Alembic's show, printed by Alembic
    assert [line.split()[:2] for line in drawn] == [["*", "r2"], ["*", "r1"]]
    assert "current" in drawn[1]
    assert [row["revision"] for row in json.loads(exported[0])] == ["r2", "r1"]
    assert footer[0].startswith("Content hash: ") and footer[1].startswith("Introduced in: ")


def test_a_bind_the_app_only_reads_is_not_a_database_ahead(tmp_path: Path) -> None:
    """A bind may hold another project's version table: only the default database
    and the binds migrepo migrated (they hold its ledger) count."""
    import sqlalchemy as sa

    other = f"sqlite:///{tmp_path / 'other.db'}"
    engine = sa.create_engine(other)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('zz9')"))
    engine.dispose()
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", binds={"other": other}) as proj:
        proj.ok("init")
        proj.ok("revision", "-m", "one", "--rev-id", "r1")
        proj.ok("upgrade")
        assert "zz9" not in proj.ok("verify").output
        assert "(current)" in proj.ok("history", "-i").stdout


def test_a_bind_ahead_of_the_work_tree_is_explained(tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", binds={"other": other}) as proj:
        proj.ok("init", "--multidb")
        proj.ok("revision", "-m", "one", "--rev-id", "r1")
        feature = proj.migrations / "versions" / "f1_feature.py"
        feature.write_text(MULTIDB_REVISION)
        proj.ok("upgrade")
        feature.unlink()
        import sqlalchemy as sa

        engine = sa.create_engine(proj.url)  # only the bind is ahead now
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'r1'"))
        engine.dispose()
        assert (proj.version(), proj.version(other)) == ({"r1"}, {"f1"})

        result = proj.run("verify")
        assert result.exit_code == 1
        assert "the database is at revision f1" in result.output
        line = error_line(proj.run("history", "-i").output)
        assert "the database is at revision f1" in line
