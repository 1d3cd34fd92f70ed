"""First, do no harm: the audit extras never fail, wedge or falsify a migration (issue 11).

The critical path of a step is its DDL, its version row and its ledger row. Git,
the object cache, the index and anything under ``.migrepo/`` are best effort:
one warning, null where unknown, and the run goes on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import pytest
import sqlalchemy as sa

from migrepo.store.blob import blob_hash
from tests.apps import Project, project
from tests.test_locking import add_chain, add_revision, query

WARNING = "migrepo could not"


def ledger(url: str) -> list[tuple[str, str, str | None, str | None]]:
    rows = query(
        url, "SELECT revision, direction, content_hash, git_commit FROM migrepo_ledger ORDER BY id"
    )
    return [(str(a), str(b), c, d) for a, b, c, d in rows]


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], Path]]:
    """Make a read-only view of a directory: a read-only bind mount (needs root)."""
    mounted: list[Path] = []

    def make(source: Path) -> Path:
        target = source.with_name(source.name + "-ro")
        target.mkdir()
        bind = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
        if bind.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
        mounted.append(target)
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(target)], capture_output=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.decode().strip()}")
        return target

    yield make
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


def chain_project(root: Path, url: str, count: int = 2) -> Project:
    with project(root, url) as proj:
        proj.ok("init")
        add_chain(root / "migrations", count)
        proj.ok("heads", "--write")
    return Project(root, url)


# --- item 2: a read-only checkout ----------------------------------------------------


@pytest.mark.parametrize("with_cache", [False, True], ids=["fresh", "cache-in-image"])
def test_a_read_only_checkout_upgrades(
    tmp_path: Path, db_url: str, read_only: Callable[[Path], Path], with_cache: bool
) -> None:
    chain_project(tmp_path, db_url)
    migrations = tmp_path / "migrations"
    if with_cache:  # Docker COPY takes .migrepo/ along: an index and objects, read-only
        with project(tmp_path, f"sqlite:///{tmp_path / 'other.db'}") as other:
            other.ok("upgrade")
        assert (migrations / ".migrepo" / "objects").is_dir()
    else:
        shutil.rmtree(migrations / ".migrepo", ignore_errors=True)
    image = read_only(migrations)
    with project(tmp_path, db_url, directory=str(image)) as proj:
        for command in ("heads", "current", "upgrade", "current"):
            result = proj.ok(command)
            assert result.output.count(WARNING) <= 1, result.output
        assert "r2 (head)" in proj.ok("current").output
        assert proj.version() == {"r2"}
    hashes = [blob_hash((image / "versions" / f"r{k}_step.py").read_bytes()) for k in (1, 2)]
    assert [(rev, way, digest) for rev, way, digest, _ in ledger(db_url)] == [
        ("r1", "upgrade", hashes[0]),
        ("r2", "upgrade", hashes[1]),
    ]


# --- item 3: git trouble ---------------------------------------------------------------


def committed(root: Path, **init: str) -> git.Repo:
    repo = git.Repo.init(root, **init)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Dev").set_value("user", "email", "dev@example.com")
    repo.git.add("migrations")
    repo.git.commit("-m", "migrations")
    return repo


def test_dubious_ownership_does_not_fail_the_upgrade(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = chain_project(tmp_path, db_url)
    committed(tmp_path).close()
    # A volume owned by someone else, and no safe.directory exception for it.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    for dirpath, _, filenames in os.walk(tmp_path / ".git"):
        os.chown(dirpath, 4242, 4242)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), 4242, 4242)
    os.chown(tmp_path, 4242, 4242)
    probe = subprocess.run(["git", "status"], cwd=tmp_path, capture_output=True, text=True)
    assert "dubious ownership" in probe.stderr
    try:
        offline = proj.ok("upgrade", "--sql")
        assert "INSERT INTO migrepo_ledger" in offline.output
        result = proj.ok("upgrade")
        assert result.output.count(WARNING) <= 1, result.output
        assert proj.version() == {"r2"}
        assert [(rev, commit) for rev, _, _, commit in ledger(db_url)] == [
            ("r1", None),
            ("r2", None),
        ]
    finally:
        proj.close()


def test_a_sha256_repository_does_not_fail_the_upgrade(tmp_path: Path, db_url: str) -> None:
    proj = chain_project(tmp_path, db_url)
    repo = committed(tmp_path, object_format="sha256")
    assert len(repo.git.rev_parse("HEAD")) == 64
    repo.close()
    try:
        proj.ok("upgrade", "--sql")
        result = proj.ok("upgrade")
        assert result.output.count(WARNING) <= 1, result.output
        assert proj.version() == {"r2"}
        assert [rev for rev, *_ in ledger(db_url)] == ["r1", "r2"]
    finally:
        proj.close()


# --- item 4: the ledger hashes the bytes that ran --------------------------------------


@pytest.mark.parametrize("change", ["edit", "remove"])
def test_the_ledger_hashes_the_code_that_ran(tmp_path: Path, db_url: str, change: str) -> None:
    """The revision edits or removes its own file while it runs: a branch switch mid-run."""
    with project(tmp_path, db_url) as proj:
        proj.ok("init")
        action = (
            "p.write_text(p.read_text() + '# edited\\n')" if change == "edit" else "p.unlink()"
        )
        path = add_revision(
            proj.migrations,
            "r1",
            None,
            'op.create_table("t1", sa.Column("id", sa.Integer, primary_key=True))\n'
            f"import pathlib; p = pathlib.Path(__file__); {action}",
        )
        ran = path.read_bytes()
        proj.ok("upgrade")
        assert proj.version() == {"r1"}
        assert "t1" in proj.tables()
        [(_, _, digest, _)] = ledger(db_url)
        assert digest == blob_hash(ran)
        cached = proj.migrations / ".migrepo" / "objects" / digest[:2] / digest[2:]
        assert cached.read_bytes() == ran  # so that sync can still find it


# --- item 8: apps sharing a database race to create the ledger table --------------------

SHARED_APP = """\
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from migrepo import Migrate

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
db = SQLAlchemy(app)
migrate = Migrate(app, db, version_table={table!r})
"""


def shared_apps(root: Path, url: str, names: list[str]) -> list[Path]:
    folders = []
    for name in names:
        folder = root / name
        folder.mkdir()
        (folder / "app.py").write_text(SHARED_APP.format(url=url, table=f"{name}_version"))
        init = subprocess.run(
            [os.sys.executable, "-m", "flask", "--app", "app", "db", "init"],  # type: ignore[attr-defined]
            cwd=folder, capture_output=True, text=True,
        )
        assert init.returncode == 0, init.stderr
        add_revision(
            folder / "migrations",
            f"{name}1",
            None,
            f'op.create_table("{name}_t", sa.Column("id", sa.Integer, primary_key=True))',
            f'op.drop_table("{name}_t")',
        )
        folders.append(folder)
    return folders


@pytest.mark.parametrize(
    "server",
    [pytest.param("pg_url", marks=pytest.mark.postgres),
     pytest.param("mysql_url", marks=pytest.mark.mariadb)],
)
def test_apps_sharing_a_database_create_the_ledger_once(
    tmp_path: Path, request: pytest.FixtureRequest, server: str
) -> None:
    import sys

    from tests.test_locking import child_env, processes

    url: str = request.getfixturevalue(server)
    names = [f"app{k}" for k in range(4)]
    folders = shared_apps(tmp_path, url, names)
    for _ in range(3):  # a race: several rounds, each from an empty database
        with processes() as procs:
            procs += [
                subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                    cwd=folder, env=child_env(), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True,
                )
                for folder in folders
            ]
            outputs = [proc.communicate(timeout=120) for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * len(folders), "\n".join(
            err for _, err in outputs
        )
        assert sorted(rev for rev, *_ in ledger(url)) == [f"{name}1" for name in names]
        engine = sa.create_engine(url)
        try:
            with engine.begin() as connection:
                for name in names:
                    assert connection.execute(
                        sa.text(f"SELECT version_num FROM {name}_version")
                    ).scalar() == f"{name}1"
                    connection.execute(sa.text(f"DROP TABLE {name}_version"))
                    connection.execute(sa.text(f"DROP TABLE {name}_t"))
                connection.execute(sa.text("DROP TABLE migrepo_ledger"))
        finally:
            engine.dispose()


# --- item 9: the SQLite lock is the real file's --------------------------------------


def test_the_sqlite_lock_follows_symbolic_links(tmp_path: Path) -> None:
    from migrepo.db.lock import migration_lock, sqlite_lock_path
    from migrepo.errors import LockTimeout

    real = tmp_path / "data" / "app.db"
    real.parent.mkdir()
    sqlite3_file = sa.create_engine(f"sqlite:///{real}")
    with sqlite3_file.connect():
        pass
    (tmp_path / "link").symlink_to(real.parent)
    linked = sa.create_engine(f"sqlite:///{tmp_path / 'link' / 'app.db'}")
    try:
        assert sqlite_lock_path(linked.url) == sqlite_lock_path(sqlite3_file.url)
        with (
            migration_lock(sqlite3_file, on_wait=lambda _: None),
            pytest.raises(LockTimeout),
            migration_lock(linked, timeout=0.05, on_wait=lambda _: None),
        ):
            pass
    finally:
        sqlite3_file.dispose()
        linked.dispose()


# --- item 17: one rule for revision ids; MariaDB's longest lock wait ----------------------


@pytest.mark.parametrize("char", ["@", ":"])
def test_a_revision_id_alembic_rejects_is_rejected_by_verify_too(
    proj: Project, char: str
) -> None:
    from migrepo._compat import revision_illegal_chars

    if char not in revision_illegal_chars():
        pytest.skip(f"this Alembic allows {char!r} in revision ids (':' from 1.16 on)")
    revision = f"ab{char}cd"
    proj.ok("init")
    proj.write_revision(revision, None)
    upgrade = proj.run("upgrade")
    assert upgrade.exit_code == 1 and revision in upgrade.output
    verify = proj.run("verify")
    assert verify.exit_code == 1
    assert f"revision id {revision!r} has {char!r}, which Alembic does not allow" in verify.output
    assert proj.run("heads").exit_code == 1


@pytest.mark.mariadb
def test_a_huge_lock_timeout_waits_on_mariadb(tmp_path: Path, mysql_url: str) -> None:
    from tests.test_locking import WAITING, flask_db, processes, read_until
    from tests.test_mariadb import holding_the_lock

    (tmp_path / "app.py").write_text(SHARED_APP.format(url=mysql_url, table="alembic_version"))
    with project(tmp_path, mysql_url) as proj:
        proj.ok("init")
    add_chain(tmp_path / "migrations", 1)
    with holding_the_lock(mysql_url) as release, processes() as procs:
        procs.append(flask_db(tmp_path, "upgrade", "--lock-timeout", "1e12"))
        read_until(procs[0].stderr, WAITING)
        release()
        _, err = procs[0].communicate(timeout=120)
    assert procs[0].returncode == 0, err
    assert query(mysql_url, "SELECT version_num FROM alembic_version") == [("r1",)]


# --- item 11: a CRLF checkout is the same content ----------------------------------------


def test_a_crlf_checkout_of_applied_revisions_is_not_tampering(tmp_path: Path) -> None:
    lf_root, crlf_root = tmp_path / "lf", tmp_path / "crlf"
    lf_root.mkdir()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    chain_project(lf_root, url).close()
    committed(lf_root).close()
    with project(lf_root, url) as lf:
        lf.ok("upgrade", "r1")
    subprocess.run(
        ["git", "clone", "-q", "-c", "core.autocrlf=true", str(lf_root), str(crlf_root)],
        check=True,
    )
    r2 = crlf_root / "migrations" / "versions" / "r2_step.py"
    assert b"\r\n" in r2.read_bytes()
    lf_blob = blob_hash((lf_root / "migrations" / "versions" / "r2_step.py").read_bytes())
    with project(crlf_root, url) as crlf:
        crlf.ok("upgrade")  # r2 runs from the CRLF file
        assert ledger(url)[-1][2] == lf_blob  # the blob git has, so sync can fetch it
        verify = crlf.run("verify")
        assert "changed after it was applied" not in verify.output, verify.output
        assert verify.exit_code == 0, verify.output
    with git.Repo(crlf_root) as repo:
        assert repo.git.cat_file("-t", lf_blob) == "blob"


# --- item 12: no raw escape sequences on the terminal -----------------------------------

ESC = "\x1b]0;owned\x07\x1b[2J"


def forge(url: str, **values: object) -> None:
    """Write a ledger row as anyone with SQL access could: raw values, no type checks."""
    row: dict[str, object] = {
        "revision": "r1", "direction": "upgrade", "content_hash": "0" * 40,
        "git_commit": None, "git_dirty": None, "applied_by": "dev@host",
        "started_at": "2026-01-02 03:04:05.000000", "duration_ms": 1, "outcome": "ok",
        "error": None, "migrepo_version": "0",
    }
    row.update(values)
    columns = ", ".join(row)
    placeholders = ", ".join(f":{name}" for name in row)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"INSERT INTO migrepo_ledger ({columns}) VALUES ({placeholders})"), row
            )
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params: object) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def chain(proj: Project, count: int) -> list[str]:
    """Revisions r1..rN, and HEADS to match."""
    revisions = add_chain(proj.migrations, count)
    proj.ok("heads", "--write")
    return revisions


def test_log_verify_and_errors_escape_control_characters(proj: Project) -> None:
    proj.ok("init")
    chain(proj, 1)
    proj.ok("upgrade")
    forge(proj.url, applied_by=f"mallory{ESC}@host", error=f"boom{ESC}", outcome="failed")
    # The tamper finding quotes who applied the revision.
    execute(proj.url, "UPDATE migrepo_ledger SET applied_by = :v WHERE outcome = 'ok'",
            v=f"mallory{ESC}@host")
    path = proj.migrations / "versions" / "r1_step.py"
    path.write_text(path.read_text() + "# edited\n")
    for command in ("log", "verify"):
        output = proj.run(command).output
        assert "mallory" in output and "\x1b" not in output and "\x07" not in output, output
    # The forged failed row left r1 dirty (SQLite keeps DDL): say it is applied.
    proj.ok("resolve", "r1", "--applied", "-m", "forged row")
    execute(proj.url, "UPDATE alembic_version SET version_num = :v", v=f"zz{ESC}")
    for command in ("upgrade", "current"):
        result = proj.run(command)
        assert result.exit_code == 1 and "zz" in result.output, result.output
        assert "\x1b" not in result.output, result.output
    # status and sync print the database's revisions themselves, not through an error.
    for command in (("status",), ("upgrade", "--plan"), ("sync", "--dry-run")):
        result = proj.run(*command)
        assert "zz" in result.output and "\x1b" not in result.output, result.output


def test_blame_and_show_escape_git_authors_and_subjects(tmp_path: Path, proj: Project) -> None:
    proj.ok("init")
    add_chain(proj.migrations, 1)
    repo = git.Repo.init(tmp_path)
    with repo.config_writer() as config:
        config.set_value("user", "name", f"Eve{ESC}").set_value("user", "email", "e@x")
    repo.git.add("migrations")
    repo.git.commit("-m", f"add{ESC} r1")
    repo.close()
    for command in (("blame",), ("show", "r1")):
        result = proj.ok(*command)
        assert "Eve" in result.output and "\x1b" not in result.output, result.output


# --- item 14: one malformed ledger row ---------------------------------------------------


def test_a_malformed_ledger_row_is_shown_as_unknown(proj: Project) -> None:
    proj.ok("init")
    chain(proj, 1)
    path = proj.migrations / "versions" / "r1_step.py"
    proj.ok("upgrade")
    forge(proj.url, revision="r0")
    execute(proj.url, "UPDATE migrepo_ledger SET started_at = 'not a time' WHERE revision = 'r1'")
    path.write_text(path.read_text() + "# edited\n")
    log = proj.ok("log")
    assert "Date:    (unknown)" in log.output and "upgrade r0" in log.output
    verify = proj.run("verify")
    assert verify.exit_code == 1, verify.output
    assert f"revision r1 changed after it was applied: {path}" in verify.output
    assert "at an unknown time" in verify.output
    assert "could not read the ledger" not in verify.output


# --- item 16: an index.json in doubt is rebuilt ---------------------------------------------

DOUBTFUL = {
    "a list": "[]",
    "short stat": '{"format": 2, "written_ns": 0, "stats": {"%s": [1]}, "records": {}}',
    "bad record": (
        '{"format": 2, "written_ns": 0, "stats": {"%s": [1, 2, 3, "%s"]}, '
        '"records": {"%s": {"revision": "r1", "down_revision": 5}}}'
    ),
    "stats as list": '{"format": 2, "written_ns": 0, "stats": [], "records": {}}',
}


@pytest.mark.parametrize("shape", sorted(DOUBTFUL))
def test_an_index_in_doubt_is_rebuilt(proj: Project, shape: str) -> None:
    proj.ok("init")
    chain(proj, 2)
    expected = proj.ok("heads").output
    path = proj.migrations / "versions" / "r2_step.py"
    digest = blob_hash(path.read_bytes())
    text = DOUBTFUL[shape]
    text = text % (path, digest, digest) if text.count("%s") == 3 else text
    text = text % (path,) if "%s" in text else text
    (proj.migrations / ".migrepo" / "index.json").write_text(text)
    assert proj.ok("heads").output == expected
    assert proj.ok("verify").exit_code == 0


def test_an_index_that_swaps_two_files_is_not_believed(proj: Project) -> None:
    """Valid in every type, but it says two files are one revision: read them again."""
    import json

    proj.ok("init")
    chain(proj, 2)
    expected = proj.ok("heads").output
    index_file = proj.migrations / ".migrepo" / "index.json"
    data = json.loads(index_file.read_text())
    first, second = sorted(data["stats"])
    data["stats"][second][3] = data["stats"][first][3]
    data["written_ns"] = 1 << 62  # written "after" the files: their stats are trusted
    index_file.write_text(json.dumps(data))
    assert proj.ok("heads").output == expected
    assert proj.ok("verify").output.startswith("ok")


# --- the rule ---------------------------------------------------------------------------


def test_each_kind_of_failure_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    from migrepo._best_effort import BestEffort

    effort = BestEffort()
    for _ in range(3):
        with effort.attempt("read git's HEAD"):
            raise OSError("dubious ownership")
    with effort.attempt("write to x"):
        raise OSError("\x1b[2Jread-only")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "migrepo could not read git's HEAD (dubious ownership); carrying on without it",
        "migrepo could not write to x (\\x1b[2Jread-only); carrying on without it",
    ]


# --- issue 10 item 2: read-only commands do not run revision files ------------------------


def test_graph_commands_do_not_run_files_without_label_lines(proj: Project) -> None:
    """Older templates wrote no branch_labels/depends_on lines; such files import the app."""
    proj.ok("init")
    (proj.migrations / "versions" / "a1_old.py").write_text(
        '"""old style"""\nrevision = "a1"\ndown_revision = None\n\n'
        "raise RuntimeError('executed')\n"
    )
    proj.ok("heads", "--write")
    assert proj.ok("heads").output == "a1 (head)\n"
    assert proj.ok("branches").output == ""
    assert "<base> -> a1 (head), old style" in proj.ok("history").output
    assert "executed" not in proj.ok("history", "--graph").output


def test_a_read_only_migrations_directory_locks_in_the_temporary_folder(
    tmp_path: Path, read_only: Callable[[Path], Path]
) -> None:
    """Databases with no lock of their own lock .migrepo/lock; read-only, a file in /tmp."""
    from types import SimpleNamespace
    from typing import Any

    from migrepo.db.lock import migration_lock
    from migrepo.errors import LockTimeout
    from migrepo.store.layout import temporary_lock_path

    (tmp_path / "migrations").mkdir()
    image = read_only(tmp_path / "migrations")
    engine: Any = SimpleNamespace(dialect=SimpleNamespace(name="somedb", is_async=False))
    with migration_lock(engine, directory=image) as description:
        assert description == f"lock file {temporary_lock_path(image)}"
        with (
            pytest.raises(LockTimeout),
            migration_lock(engine, directory=image, timeout=0.05, on_wait=lambda _: None),
        ):
            pass
    assert not temporary_lock_path(image).exists()


def test_without_the_index_a_removed_file_leaves_its_hash_unknown(proj: Project) -> None:
    """MIGREPO_INDEX = False: Alembic loads the modules, so the file is read after the step;
    gone by then, its hash is unknown, and the run goes on."""
    proj.config["MIGREPO_INDEX"] = False
    proj.ok("init")
    add_revision(
        proj.migrations, "r1", None,
        'op.create_table("t1", sa.Column("id", sa.Integer, primary_key=True))\n'
        "import pathlib; pathlib.Path(__file__).unlink()",
    )
    result = proj.ok("upgrade")
    assert result.output.count(WARNING) == 1, result.output
    assert proj.version() == {"r1"}
    assert [(rev, digest) for rev, _, digest, _ in ledger(proj.url)] == [("r1", None)]
