"""The HEADS file, on real migration directories in real git repositories."""

from __future__ import annotations

import doctest
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from migrepo.store import heads_file as _integrity
from migrepo.store.heads_file import HEADER, HeadsConflict
from tests.apps import Project

ACTOR = git.Actor("Migrepo Tests", "tests@example.com")



def heads_text(*heads: str) -> str:
    return "".join(f"{line}\n" for line in [HEADER, *heads])


def heads_file(proj: Project) -> Path:
    return proj.migrations / "HEADS"


def rev_file(proj: Project, rev: str) -> Path:
    [path] = (proj.migrations / "versions").glob(f"{rev}_*.py")
    return path


def write_revision(proj: Project, rev: str, down: str | None) -> Path:
    """A revision file written without migrepo, as a hand edit or another tool would."""
    return proj.write_revision(rev, down, name="by_hand")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[git.Repo]:
    """A git repository around the project, with the database file ignored."""
    repo = git.Repo.init(tmp_path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", ACTOR.name)
        config.set_value("user", "email", ACTOR.email)
        config.set_value("commit", "gpgsign", "false")
    (tmp_path / ".gitignore").write_text("app.db\n__pycache__/\n")
    try:
        yield repo
    finally:
        repo.close()


def commit(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message, author=ACTOR, committer=ACTOR)


@pytest.fixture
def inited(proj: Project) -> Project:
    proj.ok("init")
    return proj


# --- keeping the file up to date ---------------------------------------------------


def test_init_creates_an_empty_heads_file(inited: Project) -> None:
    assert heads_file(inited).read_text() == heads_text()
    assert heads_file(inited).read_text().startswith("# ")
    assert _integrity.read(inited.migrations) == []


def test_revision_migrate_and_merge_rewrite_heads(inited: Project) -> None:
    inited.ok("revision", "-m", "first", "--rev-id", "a1")
    assert heads_file(inited).read_text() == heads_text("a1")
    inited.ok("upgrade")
    inited.ok("migrate", "-m", "users", "--rev-id", "m2")
    assert heads_file(inited).read_text() == heads_text("m2")
    inited.ok("revision", "--head", "a1", "--splice", "--rev-id", "b3")
    inited.ok("revision", "--head", "a1", "--splice", "--rev-id", "0c")
    assert heads_file(inited).read_text() == heads_text("0c", "b3", "m2")  # sorted
    inited.ok("merge", "b3", "m2", "--rev-id", "x4")
    assert heads_file(inited).read_text() == heads_text("0c", "x4")
    inited.ok("merge", "heads", "--rev-id", "z5")
    assert heads_file(inited).read_text() == heads_text("z5")
    assert list(inited.migrations.glob(".HEADS*")) == []  # no temporary file left behind


def test_revision_creates_heads_in_a_directory_without_one(inited: Project) -> None:
    heads_file(inited).unlink()  # a directory made by Flask-Migrate has none
    inited.ok("revision", "--rev-id", "a1")
    assert heads_file(inited).read_text() == heads_text("a1")


def test_migrate_without_changes_leaves_heads_untouched(inited: Project) -> None:
    inited.ok("migrate", "--rev-id", "m1")
    inited.ok("upgrade")
    before = heads_file(inited).stat()
    result = inited.ok("migrate", "--rev-id", "m2")
    assert "No changes in schema detected." in result.output
    after = heads_file(inited).stat()
    # Writing replaces the file, so an untouched file keeps its inode and mtime.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert heads_file(inited).read_text() == heads_text("m1")


def test_merge_heads_with_one_head_leaves_heads_untouched(inited: Project) -> None:
    inited.ok("revision", "--rev-id", "a1")
    before = heads_file(inited).stat().st_ino
    assert "Nothing to merge" in inited.ok("merge", "heads").output
    assert heads_file(inited).stat().st_ino == before


def test_editing_a_revision_body_leaves_heads_unchanged(
    inited: Project, repo: git.Repo, editor: Path
) -> None:
    inited.ok("revision", "--rev-id", "a1")
    commit(repo, "a1")
    inited.ok("edit", "a1", env={"EDITOR": str(editor)})
    path = rev_file(inited, "a1")
    path.write_text(path.read_text().replace("    pass", "    op.execute('SELECT 1')", 1))
    inited.ok("heads", "--write")
    assert repo.git.status("--porcelain") == f" M migrations/versions/{path.name}"
    assert "HEADS" not in inited.ok("verify").output
    commit(repo, "a1 reviewed")
    assert inited.ok("verify").output == "ok: the migrations directory is sound\n"


@pytest.fixture
def editor(tmp_path: Path) -> Path:
    script = tmp_path / "editor.sh"
    script.write_text('#!/bin/sh\necho "# edited by the test editor" >> "$1"\n')
    script.chmod(0o755)
    return script


@pytest.mark.filterwarnings("ignore:Revision a1 is present more than once:UserWarning")
def test_revision_succeeds_when_the_graph_cannot_be_built(
    inited: Project, caplog: pytest.LogCaptureFixture
) -> None:
    inited.ok("revision", "--rev-id", "a1")
    # Alembic only warns about a duplicate id; migrepo's graph refuses it.
    (inited.migrations / "versions" / "a1_copy.py").write_text(rev_file(inited, "a1").read_text())
    with caplog.at_level(logging.WARNING, logger="migrepo"):
        inited.ok("revision", "--head", "a1", "--rev-id", "b2")
    assert rev_file(inited, "b2").is_file()
    assert heads_file(inited).read_text() == heads_text("a1")
    [record] = [r for r in caplog.records if r.name == "migrepo"]
    assert record.levelno == logging.WARNING
    assert "HEADS not updated: revision id a1 is declared by more than one file" in (
        record.getMessage()
    )
    assert "flask db heads --write" in record.getMessage()


# --- git merges --------------------------------------------------------------------


@pytest.mark.parametrize("base_revisions", [("a1",), ()], ids=["on-a-head", "first-revisions"])
@pytest.mark.parametrize("conflict_style", ["merge", "diff3"])
def test_branches_adding_on_the_same_head_conflict_in_heads(
    inited: Project, repo: git.Repo, base_revisions: tuple[str, ...], conflict_style: str
) -> None:
    with repo.config_writer() as config:
        config.set_value("merge", "conflictStyle", conflict_style)
    for rev in base_revisions:
        inited.ok("revision", "-m", "base", "--rev-id", rev)
    commit(repo, "base")
    main = repo.active_branch
    repo.git.checkout("-b", "email")
    inited.ok("revision", "-m", "add email", "--rev-id", "b2")
    commit(repo, "add email")
    main.checkout()
    repo.git.checkout("-b", "orders")
    inited.ok("revision", "-m", "add orders", "--rev-id", "c3")
    commit(repo, "add orders")
    main.checkout()
    repo.git.merge("email")  # a fast-forward

    with pytest.raises(git.GitCommandError) as excinfo:
        repo.git.merge("orders")
    assert "CONFLICT (content): Merge conflict in migrations/HEADS" in str(excinfo.value)
    assert set(repo.index.unmerged_blobs()) == {"migrations/HEADS"}
    text = heads_file(inited).read_text()
    assert text.startswith(HEADER + "\n<<<<<<< HEAD\nb2\n")
    assert "=======\nc3\n>>>>>>> orders\n" in text
    with pytest.raises(HeadsConflict):
        _integrity.read(inited.migrations)

    # Nothing but the conflict in HEADS stops the graph commands.
    verify = inited.run("verify")
    assert verify.exit_code == 1
    assert "HEADS holds git conflict markers" in verify.output
    assert "run `flask db merge heads`" in verify.output
    inited.ok("merge", "heads", "--rev-id", "m4")
    assert heads_file(inited).read_text() == heads_text("m4")
    assert "HEADS" not in inited.ok("verify").output
    repo.git.add(A=True)
    repo.git.commit("--no-edit")
    assert not repo.is_dirty(untracked_files=True)
    assert len(repo.head.commit.parents) == 2
    assert inited.ok("verify").output == "ok: the migrations directory is sound\n"


def test_branch_that_leaves_the_graph_alone_merges_cleanly(
    inited: Project, repo: git.Repo
) -> None:
    inited.ok("revision", "--rev-id", "a1")
    commit(repo, "a1")
    main = repo.active_branch
    repo.git.checkout("-b", "docs")
    (inited.root / "NOTES.md").write_text("notes\n")
    path = rev_file(inited, "a1")
    path.write_text(path.read_text() + "# reviewed\n")  # a body edit, before it is applied
    commit(repo, "notes and a reviewed revision")
    assert repo.git.diff("main", "docs", "--name-only").splitlines() == [
        "NOTES.md",
        f"migrations/versions/{path.name}",
    ]
    main.checkout()
    inited.ok("revision", "--rev-id", "b2")
    commit(repo, "b2")

    repo.git.merge("docs", "--no-edit")
    assert not repo.is_dirty(untracked_files=True)
    assert heads_file(inited).read_text() == heads_text("b2")
    assert inited.ok("verify").output == "ok: the migrations directory is sound\n"


# --- verify and heads --write ------------------------------------------------------


def test_verify_reports_a_stale_heads_file(inited: Project) -> None:
    inited.ok("revision", "--rev-id", "a1")
    write_revision(inited, "b2", "a1")
    result = inited.run("verify")
    assert result.exit_code == 1
    assert (
        f"error: {heads_file(inited)} records heads (a1) but the graph's heads are (b2): "
        "run `flask db heads --write` to rewrite it"
    ) in result.output

    write_revision(inited, "c3", "a1")
    result = inited.run("verify")
    assert result.exit_code == 1
    assert "records heads (a1) but the graph's heads are (b2, c3)" in result.output
    assert "run `flask db merge heads` to join them" in result.output


def test_verify_warns_on_a_missing_heads_file(inited: Project) -> None:
    inited.ok("revision", "--rev-id", "a1")
    heads_file(inited).unlink()
    result = inited.ok("verify")
    assert result.output == (
        f"warning: no HEADS file in {inited.migrations}: `flask db heads --write` "
        "creates it; commit it with the migrations\n"
    )
    assert inited.run("verify", "--strict").exit_code == 1


def test_verify_skips_the_heads_comparison_when_the_graph_is_unsound(
    inited: Project,
) -> None:
    inited.ok("revision", "--rev-id", "a1")
    write_revision(inited, "b2", "zz")
    result = inited.run("verify")
    assert result.exit_code == 1
    assert "names parent zz" in result.output
    assert "HEADS" not in result.output


def test_heads_write_rewrites_the_file(inited: Project) -> None:
    inited.ok("revision", "--rev-id", "a1")
    write_revision(inited, "b2", "a1")
    write_revision(inited, "c3", "a1")
    result = inited.ok("heads", "--write")
    assert result.output == f"Wrote {heads_file(inited)}: b2, c3\n"
    assert heads_file(inited).read_text() == heads_text("b2", "c3")
    heads_file(inited).write_text("<<<<<<< HEAD\nb2\n=======\nc3\n>>>>>>> other\n")
    inited.ok("heads", "--write")
    assert heads_file(inited).read_text() == heads_text("b2", "c3")


def test_heads_write_on_an_empty_graph(inited: Project) -> None:
    heads_file(inited).unlink()
    result = inited.ok("heads", "--write")
    assert result.output == f"Wrote {heads_file(inited)}: no revisions yet\n"
    assert heads_file(inited).read_text() == heads_text()


def test_heads_without_write_is_alembics_and_writes_nothing(inited: Project) -> None:
    inited.ok("revision", "--rev-id", "a1")
    heads_file(inited).write_text("stale\n")
    assert inited.ok("heads").output == "a1 (head)\n"
    assert heads_file(inited).read_text() == "stale\n"
    refused = inited.run("heads", "--write", "-v")
    assert refused.exit_code == 2
    assert "--write" in refused.output


def test_heads_help_documents_write(inited: Project) -> None:
    out = inited.ok("heads", "--help").output
    assert "--write" in out and "HEADS" in out


# --- the module --------------------------------------------------------------------


def test_doctests() -> None:
    result = doctest.testmod(_integrity)
    assert result.attempted > 0 and result.failed == 0


def test_read_tolerates_comments_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "HEADS").write_text("# one\n\n  b2  \n# two\na1\n")
    assert _integrity.read(tmp_path) == ["b2", "a1"]
    assert _integrity.read(tmp_path / "nowhere") is None


def test_write_is_deterministic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    _integrity.write(tmp_path, ["c3", "b2"])
    first = (tmp_path / "HEADS").read_bytes()
    _integrity.write(tmp_path, ["b2", "c3"])
    assert (tmp_path / "HEADS").read_bytes() == first == heads_text("b2", "c3").encode()
    assert os.listdir(tmp_path) == ["HEADS"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "HEADS").mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        _integrity.write(tmp_path, ["a1"])
    assert os.listdir(tmp_path) == ["HEADS"]
    assert (tmp_path / "HEADS").is_dir()


@pytest.mark.parametrize(
    ("hook", "reason"),
    [
        (
            "ruff.type = console_scripts\nruff.entrypoint = no-such-ruff-x\n",
            "Could not find entrypoint console_scripts.no-such-ruff-x",
        ),
        (
            "ruff.type = exec\nruff.executable = /no/such/ruff\n"
            "ruff.options = check --fix REVISION_SCRIPT_FILENAME\n",
            "FileNotFoundError: [Errno 2] No such file or directory: '/no/such/ruff'",
        ),
    ],
    ids=["console_scripts", "exec"],
)
def test_a_failing_post_write_hook_keeps_the_file_and_heads_consistent(
    inited: Project, hook: str, reason: str
) -> None:
    inited.ok("revision", "-m", "one", "--rev-id", "a1")
    ini = inited.migrations / "alembic.ini"
    ini.write_text(ini.read_text() + "\n[post_write_hooks]\nhooks = ruff\n" + hook)

    for args, rev in ((("revision", "--rev-id", "b2"), "b2"),
                      (("revision", "--head", "a1", "--splice", "--rev-id", "c3"), "c3"),
                      (("merge", "b2", "c3", "--rev-id", "m4"), "m4")):
        result = inited.run(*args)
        assert result.exit_code == 1, result.output
        written = next((inited.migrations / "versions").glob(f"{rev}_*.py"))
        assert f"Error: {written} was written and recorded in HEADS, but a post-write hook " \
            f"failed: {reason}" in result.output
        assert "Traceback" not in result.output
    assert heads_file(inited).read_text() == heads_text("m4")
    assert "ok: the migrations directory is sound" in inited.ok("verify").output
