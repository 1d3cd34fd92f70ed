"""Bad input: one line naming the problem, a non-zero exit, and nothing changed.

Each row of ``CASES`` sets up a project, runs one `flask db` command that
must fail, and checks that

* the exit status is the row's (1, or 2 for a usage error),
* stderr ends with exactly one ``Error: ...`` line (Alembic's INFO lines
  aside) that holds the row's fragments, and nothing shows a traceback,
* no file under the project changed (paths and bytes; the SQLite file and
  migrepo's ``.migrepo/`` cache aside), ``git status`` did not change, and
  neither did the database (its tables, their row counts and the
  ``alembic_version`` rows),
* the password of any database URL appears nowhere in the output.

The rows marked ``database`` run on PostgreSQL too. The tests after the table
cover what must succeed: awkward revision messages and ``$EDITOR``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest
import sqlalchemy as sa
from flask import Flask

from migrepo import Migrate, cli
from migrepo.store.reader import blob_hash
from tests.apps import Project, project

PASSWORD = "s3cret"
UNREACHABLE = f"postgresql+psycopg://user:{PASSWORD}@127.0.0.1:1/x"
# A setting libpq only checks when it connects: Flask-SQLAlchemy builds the engine fine.
MISCONFIGURED = f"postgresql+psycopg://user:{PASSWORD}@127.0.0.1:1/x?sslmode=bogus"
TRUE = shutil.which("true") or "/bin/true"


BROKEN = '''\
"""broken

Revision ID: r3
"""
revision = 'r3'
def upgrade(:
    pass
'''


# --- setups: each prepares the project and returns the app to run against --------------


def fresh(proj: Project) -> Flask:
    """No migrations directory yet."""
    return proj.app()


def inited(proj: Project) -> Flask:
    proj.ok("init")
    return proj.app()


def two_revs(proj: Project) -> Flask:
    """r1 creates ``user``, r2 is empty; the database is at r2."""
    proj.ok("init")
    proj.ok("migrate", "-m", "one", "--rev-id", "r1")
    proj.ok("revision", "-m", "two", "--rev-id", "r2")
    proj.ok("upgrade")
    return proj.app()


def branched(proj: Project) -> Flask:
    """r1 -> r2 and r1 -> r3: two heads to merge."""
    two_revs(proj)
    proj.ok("revision", "-m", "three", "--head", "r1", "--splice", "--rev-id", "r3")
    return proj.app()


def at_base(proj: Project) -> Flask:
    """r1 and r2 exist; the database is at base."""
    two_revs(proj)
    proj.ok("downgrade", "base")
    return proj.app()


def write_revision(proj: Project, name: str, rev: str, down: object, message: str = "x") -> None:
    proj.write_revision(rev, down, name=name.removesuffix(".py").split("_", 1)[1], message=message)


def syntax_error(proj: Project) -> Flask:
    """r3_broken.py does not parse: line 6 is ``def upgrade(:``."""
    two_revs(proj)
    (proj.migrations / "versions" / "r3_broken.py").write_text(BROKEN, encoding="utf-8")
    return proj.app()


def missing_parent(proj: Project) -> Flask:
    two_revs(proj)
    write_revision(proj, "r3_orphan.py", "r3", "gone")
    return proj.app()


def duplicate_id(proj: Project) -> Flask:
    two_revs(proj)
    write_revision(proj, "r2_copy.py", "r2", "r1", message="copy")
    return proj.app()


def cycle(proj: Project) -> Flask:
    """r1 now revises r2, which revises r1."""
    two_revs(proj)
    [r1] = (proj.migrations / "versions").glob("r1_*.py")
    r1.unlink()
    write_revision(proj, "r1_one.py", "r1", "r2")
    return proj.app()


def database_ahead(proj: Project) -> Flask:
    """The database is at f1, whose file was deleted; migrepo's cache still has its content."""
    two_revs(proj)
    feature = proj.write_revision("f1", "r2", name="feature")
    proj.ok("upgrade")
    feature.unlink()
    return proj.app()


def merged(proj: Project) -> Flask:
    """m1 merges r2 and r3; the database is at m1."""
    branched(proj)
    proj.ok("upgrade", "heads")
    proj.ok("merge", "-m", "merge", "--rev-id", "m1", "r2", "r3")
    proj.ok("upgrade")
    return proj.app()


def at_branch_point(proj: Project) -> Flask:
    """r2 and r3 both revise r1; the database is at r1."""
    branched(proj)
    proj.ok("downgrade", "r1")
    return proj.app()


def at_both_heads_with_a_model_change(proj: Project) -> Flask:
    """r2 and r3 are heads, the database is at both, and the models gained a table."""
    branched(proj)
    proj.ok("upgrade", "heads")
    return proj.app(extra_table=True)


def dir_exists(proj: Project) -> Flask:
    proj.migrations.mkdir()
    (proj.migrations / "notes.txt").write_text("keep me\n")
    return proj.app()


def file_in_the_way(proj: Project) -> Flask:
    proj.migrations.write_text("not a directory\n")
    return proj.app()


def with_url(url: str, setup: Callable[[Project], Flask] = inited) -> Callable[[Project], Flask]:
    """``setup``, then an app over the same migrations whose database URL is ``url``."""

    def prepare(proj: Project) -> Flask:
        setup(proj)
        saved, proj.url = proj.url, url
        try:
            return proj.app()
        finally:
            proj.url = saved

    prepare.__name__ = f"{setup.__name__}, url {url}"
    return prepare


def without_extension(proj: Project) -> Flask:
    """The `db` group added by hand, with no Migrate on the app."""
    app = Flask("no_extension", root_path=str(proj.root))
    app.cli.add_command(cli.db)
    return app


def without_sqlalchemy(proj: Project) -> Flask:
    """Migrate without a Flask-SQLAlchemy instance; `init` works, `upgrade` cannot."""
    app = Flask("no_sqlalchemy", root_path=str(proj.root))
    migrate = Migrate(app, directory=str(proj.migrations))
    migrate.init_app(app)
    assert proj.run("init", app=app).exit_code == 0
    return app


def database_at(proj: Project, revision: str, content_hash: str) -> None:
    """The database claims ``revision``, which the ledger says had ``content_hash``."""
    from migrepo.db.ledger import applied_by, ledger_table

    engine = sa.create_engine(proj.url)
    try:
        with engine.begin() as conn:
            update = sa.text("UPDATE alembic_version SET version_num = :rev")
            conn.execute(update, {"rev": revision})
            conn.execute(
                ledger_table().insert().values(
                    revision=revision, direction="upgrade", content_hash=content_hash,
                    applied_by=applied_by(), started_at=datetime.now(UTC), duration_ms=1,
                    outcome="ok", migrepo_version="0",
                )
            )
    finally:
        engine.dispose()


def ledger_hash_is_a_path(proj: Project) -> Flask:
    """sync must not read (and then delete, as a corrupt cache entry) a file the
    database names: ``xx/abs/path`` once made the cache path ``/abs/path``."""
    two_revs(proj)
    victim = proj.root / "victim.txt"
    victim.write_text("precious\n")
    database_at(proj, "zz9", f"xx{victim}")
    return proj.app()


def database_revision_is_a_path(proj: Project) -> Flask:
    """sync must not write a recovered script to a path the database's revision id names."""
    two_revs(proj)
    [r2] = (proj.migrations / "versions").glob("r2_*.py")
    database_at(proj, "../../../evil", blob_hash(r2.read_bytes()))
    return proj.app()


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    setup: Callable[[Project], Flask]
    args: tuple[str, ...]  # "{root}" stands for the project root
    fragments: tuple[str, ...]  # each in the error line, ignoring case
    exit_code: int = 1
    database: bool = False  # run on PostgreSQL too
    env: dict[str, str | None] = field(default_factory=dict)


def case(
    id: str,
    setup: Callable[[Project], Flask],
    args: tuple[str, ...],
    fragments: str | tuple[str, ...],
    exit_code: int = 1,
    *,
    database: bool = False,
    env: dict[str, str | None] | None = None,
) -> tuple[str, Case]:
    found = (fragments,) if isinstance(fragments, str) else fragments
    return id, Case(setup, args, found, exit_code, database, env or {})


BAD_REV_IDS = {
    "parent-dir": "../../evil",
    "backslash": "a\\b",
    "dot-dot": "..",
    "slash": "a/b",
    "non-ascii": "é",
    "33-chars": "a" * 33,
    "space": "a b",
    "option-like": "-x",
}

CASES: list[tuple[str, Case]] = [
    # Before `flask db init`.
    case("upgrade-before-init", fresh, ("upgrade",), "flask db init", database=True),
    case("current-before-init", fresh, ("current",), "flask db init", database=True),
    # init where something is in the way.
    case("init-into-existing-dir", dir_exists, ("init",), "already exists"),
    case("init-onto-file", file_in_the_way, ("init",), "a file is in the way"),
    case(
        "init-under-file",
        file_in_the_way,
        ("init", "-d", "{root}/migrations/sub"),
        ("{root}/migrations", "not a directory"),
    ),
    # Unknown revisions.
    case("upgrade-unknown-rev", two_revs, ("upgrade", "nope"), "'nope'", database=True),
    case("downgrade-unknown-rev", two_revs, ("downgrade", "nope"), "'nope'", database=True),
    case("stamp-unknown-rev", two_revs, ("stamp", "nope"), "'nope'", database=True),
    case("show-unknown-rev", two_revs, ("show", "nope"), "'nope'"),
    case("edit-unknown-rev", two_revs, ("edit", "nope"), "'nope'", env={"EDITOR": TRUE}),
    case("history-range-unknown-rev", two_revs, ("history", "-r", "r1:nope"), "'nope'"),
    case("blame-unknown-rev", two_revs, ("blame", "nope"), "'nope'"),
    case("merge-unknown-rev", branched, ("merge", "r2", "nope"), "'nope'"),
    case("revision-unknown-head", two_revs, ("revision", "--head", "nope"), "'nope'"),
    # Malformed ranges.
    case("history-range-three-parts", two_revs, ("history", "-r", "a:b:c"), "'a:b:c'", 2),
    case("history-range-no-colon", two_revs, ("history", "-r", "r1"), "'r1'", 2),
    case("history-graph-range", two_revs, ("history", "--graph", "-r", "a:b:c"), "'a:b:c'", 2),
    case("upgrade-range", two_revs, ("upgrade", "r1:r2"), "range", database=True),
    # Below base (and past the head).
    case("downgrade-at-base", at_base, ("downgrade",), "below base", database=True),
    case("downgrade-too-many", two_revs, ("downgrade", "--", "-3"), "below base", database=True),
    case("downgrade-base-minus-1", two_revs, ("downgrade", "base-1"), "below base", 2,
         database=True),
    case("upgrade-base-minus-1", two_revs, ("upgrade", "base-1"), "below base", 2,
         database=True),
    case("downgrade-rev-minus-3", two_revs, ("downgrade", "r1-3"), "past", database=True),
    case("upgrade-too-many", at_base, ("upgrade", "+3"), "past the head", database=True),
    # A revision file that does not parse: file and line.
    case("upgrade-syntax-error", syntax_error, ("upgrade",), ("r3_broken.py", "line 6"),
         database=True),
    case("history-syntax-error", syntax_error, ("history",), ("r3_broken.py", "line 6")),
    case("history-graph-syntax-error", syntax_error, ("history", "--graph"),
         ("r3_broken.py", "6")),
    # An unsound graph.
    case("upgrade-missing-parent", missing_parent, ("upgrade",), ("r3_orphan.py", "gone"),
         database=True),
    case("history-missing-parent", missing_parent, ("history",), ("r3_orphan.py", "gone")),
    case("upgrade-duplicate-id", duplicate_id, ("upgrade",), ("r2_copy.py", "r2_two.py"),
         database=True),
    case("history-duplicate-id", duplicate_id, ("history",), ("r2_copy.py", "r2_two.py")),
    case("heads-duplicate-id", duplicate_id, ("heads",), ("r2_copy.py", "r2_two.py")),
    case("upgrade-cycle", cycle, ("upgrade",), ("cycle", "r1", "r2"), database=True),
    case("history-cycle", cycle, ("history",), ("cycle", "r1", "r2")),
    case("heads-cycle", cycle, ("heads",), ("cycle", "r1", "r2")),
    # --rev-id: a file name and a VARCHAR(32) value.
    *[
        case(f"{command}-rev-id-{name}", branched, (command, "--rev-id", value, *extra),
             "--rev-id", 2)
        for name, value in BAD_REV_IDS.items()
        for command, extra in (("revision", ()), ("migrate", ()), ("merge", ("r2", "r3")))
    ],
    case("revision-rev-id-taken", two_revs, ("revision", "-m", "one", "--rev-id", "r1"),
         ("--rev-id", "'r1'", "r1_one.py"), 2),
    case("merge-rev-id-taken", branched, ("merge", "--rev-id", "r2", "r2", "r3"),
         ("--rev-id", "'r2'"), 2),
    # $EDITOR runs without a shell: a command line is not an editor.
    case("edit-editor-with-shell-syntax", two_revs, ("edit", "r1"), ("$EDITOR", "touch"),
         2, env={"EDITOR": "touch {root}/pwned; echo", "VISUAL": None}),
    # Databases that cannot be reached or are misconfigured; the password never shows.
    case("upgrade-unreachable", with_url(UNREACHABLE), ("upgrade",), "connection refused"),
    case("current-unreachable", with_url(UNREACHABLE), ("current",), "connection refused"),
    case("migrate-unreachable", with_url(UNREACHABLE), ("migrate",), "connection refused"),
    case("log-unreachable", with_url(UNREACHABLE), ("log",), "connection refused"),
    # Every supported libpq names the bad value; only newer ones name the setting too.
    case("upgrade-misconfigured", with_url(MISCONFIGURED), ("upgrade",), "bogus"),
    # Values read from the database are data, never paths.
    case("sync-ledger-hash-is-a-path", ledger_hash_is_a_path, ("sync",), "zz9"),
    case("sync-database-revision-is-a-path", database_revision_is_a_path, ("sync",),
         "../../../evil"),
    # The database is ahead of the work tree: every command says so, and how to get out.
    *[
        case(f"{'-'.join(args).replace('--', '')}-database-ahead", database_ahead, args,
             ("database is at revision f1", "flask db sync"), database=True)
        for args in (
            ("upgrade",), ("downgrade",), ("current",), ("migrate",), ("check",),
            ("revision", "--autogenerate"), ("stamp", "r1"), ("history", "-i"),
            ("history", "--graph", "-i"),
        )
    ],
    # Several heads, a merge: name the way on.
    case("upgrade-several-heads", branched, ("upgrade",),
         ("2 heads (r2, r3)", "flask db upgrade heads", "flask db merge heads"), database=True),
    case("revision-several-heads", branched, ("revision", "-m", "x"),
         ("2 heads (r2, r3)", "--head", "flask db merge heads")),
    case("migrate-several-heads", at_both_heads_with_a_model_change, ("migrate",),
         ("2 heads (r2, r3)", "--head", "flask db merge heads")),
    case("downgrade-at-a-merge", merged, ("downgrade",),
         ("merge revision m1", "2 parents (r2, r3)", "flask db downgrade r2"), database=True),
    case("upgrade-plus-one-at-a-branch-point", at_branch_point, ("upgrade", "+1"),
         ("branch point r1", "2 children (r2, r3)", "flask db upgrade r2")),
    # Apps that lack something.
    case("upgrade-without-extension", without_extension, ("upgrade",), "Migrate(app, db)"),
    case("init-without-extension", without_extension, ("init",), "Migrate(app, db)"),
    case("upgrade-without-sqlalchemy", without_sqlalchemy, ("upgrade",), "without a database"),
    case("current-without-sqlalchemy", without_sqlalchemy, ("current",), "without a database"),
]


def _params() -> Iterator[object]:
    for id, row in CASES:
        yield pytest.param(row, "sqlite", id=f"{id}-sqlite")
        if row.database:
            yield pytest.param(row, "postgres", id=f"{id}-postgres", marks=pytest.mark.postgres)


# --- snapshots ---------------------------------------------------------------------------


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root``: git's own folder, the SQLite file and caches aside."""
    found = {}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if parts[0] == ".git" or parts[0].startswith("app.db"):
            continue
        if {".migrepo", "__pycache__"} & set(parts):
            continue
        if path.is_file() or path.is_symlink():
            found["/".join(parts)] = path.read_bytes()
    return found


def database(url: str) -> dict[str, object]:
    """Each table's row count, and the ``alembic_version`` rows."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            state: dict[str, object] = {
                name: conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                for name in tables
            }
            if "alembic_version" in tables:
                state["versions"] = sorted(
                    conn.scalars(sa.text("SELECT version_num FROM alembic_version"))
                )
            return state
    finally:
        engine.dispose()


def commit_everything(root: Path) -> git.Repo:
    """Make ``root`` a git work tree with one commit holding the project as set up."""
    (root / ".gitignore").write_text("__pycache__/\napp.db*\n")
    repo = git.Repo.init(root)
    repo.git.add("-A")
    who = git.Actor("Test", "test@example.com")
    repo.index.commit("set up", author=who, committer=who)
    return repo


def error_line(stderr: str) -> str:
    """The one ``Error:`` line, which must end stderr (Alembic's INFO lines aside)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    rest = [line for line in lines[lines.index(errors[0]) + 1 :] if not line.startswith("INFO ")]
    assert rest == [], stderr
    assert errors[0].strip() != "Error:"
    return errors[0]


# --- the test ----------------------------------------------------------------------------


# Alembic only warns about a duplicate id or a missing parent; as `flask db` would be run
# (warnings shown, not raised), the CLI itself must make them errors.
@pytest.mark.filterwarnings("always::UserWarning")
@pytest.mark.parametrize(("row", "backend"), list(_params()))
def test_bad_input(
    row: Case, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'app.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    root = str(tmp_path)
    args = [arg.replace("{root}", root) for arg in row.args]
    env = {k: v.replace("{root}", root) if v else v for k, v in row.env.items()}
    with project(tmp_path, url) as proj:
        app = row.setup(proj)
        with commit_everything(tmp_path) as repo:
            status = repo.git.status("--porcelain")
            before = files(tmp_path), database(url)

            result = proj.run(*args, app=app, env=env)

            assert result.exit_code == row.exit_code, result.output
            line = error_line(result.stderr)
            for fragment in row.fragments:
                assert fragment.replace("{root}", root).lower() in line.lower(), line
            assert "Traceback" not in result.output
            assert PASSWORD not in result.output
            assert (files(tmp_path), database(url)) == before
            assert repo.git.status("--porcelain") == status


def test_the_table_covers_every_command_that_takes_a_revision() -> None:
    commands = {row.args[0] for _, row in CASES if "nope" in row.args}
    assert {"upgrade", "downgrade", "stamp", "show", "edit"} <= commands


# --- revision messages that must work ----------------------------------------------------

AWKWARD = 'say """hi""" \\ and \\n done\nsecond line ñ'


@pytest.fixture
def inited_proj(tmp_path: Path) -> Iterator[Project]:
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init")
        yield proj


def load(path: Path) -> object:
    from alembic.util import load_python_file

    return load_python_file(str(path.parent), path.name)


@pytest.mark.parametrize("command", ["revision", "migrate"])
def test_an_awkward_message_makes_a_valid_revision(inited_proj: Project, command: str) -> None:
    proj = inited_proj
    proj.ok(command, "-m", AWKWARD, "--rev-id", "m1")
    [path] = proj.revision_files()
    # Words in ASCII: ñ becomes n; the literal backslash-n is the word "n".
    assert path.name == "m1_say_hi_and_n_done_second_line_n.py"
    module = load(path)
    doc = module.__doc__
    assert isinstance(doc, str)
    assert doc.startswith(AWKWARD + "\n\nRevision ID: m1")
    assert doc.splitlines()[0] == AWKWARD.splitlines()[0]
    history = proj.ok("history").output
    assert "<base> -> m1 (head), say" in history
    proj.ok("upgrade")
    assert proj.version() == {"m1"}
    # The graph commands read the same message.
    assert "say \"\"\"hi\"\"\"" in proj.ok("history", "--graph").output


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("add user table", "m1_add_user_table.py"),  # unchanged: Alembic's own slug
        ("Ajouter la table « café »", "m1_ajouter_la_table_cafe.py"),
        ("控制 chars \x00\x07 and\ttab\r", "m1_chars_and_tab.py"),
        ("", "m1_.py"),
        ("a" * 30 + " " + "b" * 30, "m1_" + "a" * 30 + "_.py"),
    ],
    ids=["ascii", "accents", "control-and-cjk", "empty", "truncated"],
)
def test_message_slug_and_docstring(inited_proj: Project, message: str, name: str) -> None:
    proj = inited_proj
    proj.ok("revision", "-m", message, "--rev-id", "m1")
    [path] = proj.revision_files()
    assert path.name == name
    doc = load(path).__doc__
    assert isinstance(doc, str)
    assert doc.startswith(f"{message}\n\nRevision ID: m1")


def test_a_plain_message_is_written_as_flask_migrate_writes_it(inited_proj: Project) -> None:
    inited_proj.ok("revision", "-m", 'add "user" table', "--rev-id", "m1")
    [path] = inited_proj.revision_files()
    assert path.read_text(encoding="utf-8").startswith('"""add "user" table\n\nRevision ID: m1')


def test_an_awkward_merge_message(tmp_path: Path) -> None:
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        branched(proj)
        proj.ok("merge", "-m", AWKWARD, "--rev-id", "m1", "r2", "r3")
        [path] = proj.migrations.glob("versions/m1_*.py")
        assert path.name == "m1_say_hi_and_n_done_second_line_n.py"
        doc = load(path).__doc__
        assert isinstance(doc, str) and doc.startswith(AWKWARD)
        proj.ok("history")


def test_a_custom_file_template_keeps_its_other_parts(inited_proj: Project) -> None:
    app = inited_proj.app()

    @app.extensions["migrate"].migrate.configure
    def dated(config):  # type: ignore[no-untyped-def]
        config.set_main_option("file_template", "%%(year)d_%%(rev)s_%%(slug)s")
        return config

    inited_proj.ok("revision", "-m", "café", "--rev-id", "m1", app=app)
    [path] = inited_proj.revision_files()
    assert path.name.endswith("_m1_cafe.py")
    assert path.name[:4].isdigit()


# --- $EDITOR -----------------------------------------------------------------------------


def test_edit_runs_an_editor_whose_path_has_a_space(tmp_path: Path) -> None:
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        two_revs(proj)
        folder = tmp_path / "my editors"
        folder.mkdir()
        editor = folder / "append.sh"
        editor.write_text('#!/bin/sh\necho "# edited" >> "$1"\n')
        editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
        proj.ok("edit", "r1", env={"EDITOR": str(editor), "VISUAL": None})
        [r1] = proj.migrations.glob("versions/r1_*.py")
        assert r1.read_text().endswith("# edited\n")


def test_edit_does_not_split_editor_into_a_command_line(tmp_path: Path) -> None:
    """Alembic passes $EDITOR to exec as one program name: no shell, no arguments."""
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        two_revs(proj)
        result = proj.run(
            "edit", "r1", env={"EDITOR": f"{TRUE} --help", "VISUAL": f"{TRUE} x"}
        )
        assert result.exit_code == 2
        assert "$EDITOR" in error_line(result.stderr)


# --- a URL Flask-SQLAlchemy cannot build an engine for -----------------------------------


@pytest.mark.e2e
def test_an_unknown_dialect_fails_before_migrepo_runs(tmp_path: Path) -> None:
    """Flask-SQLAlchemy builds engines when the app is imported, so a URL with an
    unknown dialect stops `flask` itself, with Flask's traceback, before any
    migrepo code runs. The password must not show there either."""
    (tmp_path / "app.py").write_text(
        "from flask import Flask\n"
        "from flask_sqlalchemy import SQLAlchemy\n"
        "from migrepo import Migrate\n"
        "app = Flask(__name__)\n"
        f"app.config['SQLALCHEMY_DATABASE_URI'] = 'notadialect://u:{PASSWORD}@h/x'\n"
        "db = SQLAlchemy(app)\n"
        "migrate = Migrate(app, db)\n"
    )
    flask = Path(sys.executable).with_name("flask")
    env = {**os.environ, "FLASK_APP": "app.py"}
    done = subprocess.run(
        [str(flask), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "notadialect" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert not (tmp_path / "migrations").exists()


# --- the ledger: bound parameters, masked errors -----------------------------------------

# Who applied a step comes from $LOGNAME/$USER: a value the database must get as data.
HOSTILE = "o'neil'); DROP TABLE user; --"


def ledger_rows(url: str) -> list[dict[str, object]]:
    from migrepo.db.ledger import read_rows

    engine = sa.create_engine(url)
    try:
        return read_rows(engine, "migrepo_ledger", None, limit=None, revision=None)
    finally:
        engine.dispose()


def test_the_ledger_writes_values_as_bound_parameters(any_proj: Project) -> None:
    """(Alembic itself formats revision ids into its version-table SQL, so the
    hostile value here is the user name, which only the ledger writes.)"""
    env: dict[str, str | None] = {"LOGNAME": HOSTILE, "USER": HOSTILE}
    any_proj.ok("init")
    any_proj.ok("migrate", "-m", "one", "--rev-id", "r1")
    offline = any_proj.ok("upgrade", "--sql", env=env).output
    assert "'o''neil''); DROP TABLE user; --@" in offline
    any_proj.ok("upgrade", env=env)
    assert any_proj.version() == {"r1"}
    assert "user" in any_proj.tables()
    [row] = ledger_rows(any_proj.url)
    assert isinstance(row["applied_by"], str) and row["applied_by"].startswith(HOSTILE + "@")


FAILING = '''\
"""fails

Revision ID: f1
"""
revision = 'f1'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    raise RuntimeError("can't reach postgresql://app:{password}@db/app (password={password})")


def downgrade():
    pass
'''


def test_a_failing_step_never_shows_or_records_a_password(any_proj: Project) -> None:
    any_proj.ok("init")
    (any_proj.migrations / "versions" / "f1_fails.py").write_text(
        FAILING.format(password=PASSWORD), encoding="utf-8"
    )
    result = any_proj.run("upgrade")
    assert result.exit_code == 1
    line = error_line(result.stderr)
    assert "postgresql://app:***@db/app" in line and "password=***" in line
    assert PASSWORD not in result.output
    [row] = ledger_rows(any_proj.url)
    assert row["outcome"] == "failed"
    assert isinstance(row["error"], str) and "***" in row["error"]
    assert PASSWORD not in row["error"]
    assert PASSWORD not in any_proj.ok("log").output
