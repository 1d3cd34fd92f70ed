"""Git in trouble leaves nothing behind: no git process, no open pipe, no traceback.

GitPython before 3.2.1 (the lower bound is 3.1.40) leaks its persistent
``git cat-file`` process when git refuses the repository: an unclosed pipe and
an unreaped process, reported as a ResourceWarning by whichever test happens
to be running when the garbage collector finds them. migrepo reads objects
with one-shot ``git cat-file`` calls (:func:`migrepo.audit.gitcore.cat_file`),
and the repositories it opens stop a persistent one cleanly when closed.

Each test collects the garbage before it ends, so a leak fails the test that
made it, not a later one.
"""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
from click.testing import Result

from migrepo.audit import gitrepo, walk
from migrepo.store.blob import blob_hash
from tests.apps import Project, project
from tests.test_sync import FEATURE


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Finalize what the test dropped while it runs, so its ResourceWarnings are its own."""
    yield
    gc.collect()


def persistent(repo: git.Repo) -> list[object]:
    # GitPython's persistent `git cat-file --batch(-check)` commands: None until started.
    return [repo.git.cat_file_all, repo.git.cat_file_header]


def branch_switch(root: Path, url: str, **init: str) -> Project:
    """main holds r1; branch feature adds f1; the database is at f1, with main checked out."""
    proj = Project(root, url)
    with git.Repo.init(root, initial_branch="main", **init) as repo:
        with repo.config_writer() as config:
            config.set_value("user", "name", "Dev").set_value("user", "email", "dev@example.com")
        (root / ".gitignore").write_text("*.db\n")
        proj.ok("init")
        proj.ok("migrate", "-m", "initial", "--rev-id", "r1")
        repo.git.add("--all")
        repo.git.commit("-m", "initial")
        repo.git.checkout("-b", "feature")
        (proj.migrations / "versions" / "f1_feature.py").write_text(FEATURE)
        repo.git.add("--all")
        repo.git.commit("-m", "feature table")
        proj.ok("upgrade")
        repo.git.checkout("main")
    return proj


def disown(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make git refuse the work tree: owned by someone else, no safe.directory for it."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(root / "no-gitconfig"))
    for dirpath, _, filenames in os.walk(root / ".git"):
        os.chown(dirpath, 4242, 4242)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), 4242, 4242)
    os.chown(root, 4242, 4242)
    probe = subprocess.run(["git", "status"], cwd=root, capture_output=True, text=True)
    if "dubious ownership" not in probe.stderr:
        pytest.skip(f"git does not check ownership here: {probe.stderr.strip()}")


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.output,
        result.exception,
    )
    if result.exit_code:  # a one-line error (show prints Alembic's text first), or findings
        lines = result.output.splitlines()
        assert any(line.startswith(("Error: ", "error: ")) for line in lines), result.output


# --- one-shot object reads -------------------------------------------------------------


def test_object_reads_start_no_persistent_git(tmp_path: Path) -> None:
    proj = branch_switch(tmp_path, f"sqlite:///{tmp_path / 'app.db'}")
    f1 = FEATURE.encode()
    relpath = "migrations/versions/f1_feature.py"
    repo = gitrepo.open_repo(tmp_path)
    assert repo is not None
    with repo:
        head = repo.git.rev_parse("HEAD")
        assert gitrepo.read_blob(repo, blob_hash(f1)) == f1
        assert gitrepo.read_blob(repo, blob_hash(f1).upper()) == f1
        assert gitrepo.read_blob(repo, "0" * 40) is None
        assert gitrepo.read_blob(repo, head) is None  # a commit, not a blob
        feature_tip = repo.git.rev_parse("feature")
        assert gitrepo.commits_and_branches_with(repo, relpath) == ([feature_tip], ["feature"])
        assert walk.missing_commits(repo, [head, "0" * 40, "not hex", "ab"]) == {
            "0" * 40,
            "not hex",
            "ab",
        }
        assert gitrepo.head(repo) == (head, False)
        assert gitrepo.file_history(repo, proj.migrations / "versions")[0] is not None
        assert persistent(repo) == [None, None]
    proj.close()


def test_a_sha256_repository_reads_objects(tmp_path: Path) -> None:
    proj = branch_switch(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", object_format="sha256")
    repo = gitrepo.open_repo(tmp_path)
    assert repo is not None
    with repo:
        digest = repo.git.rev_parse("feature:migrations/versions/f1_feature.py")
        assert len(digest) == 64
        assert gitrepo.read_blob(repo, digest) == FEATURE.encode()
        assert walk.missing_commits(repo, [repo.git.rev_parse("HEAD"), "0" * 64]) == {"0" * 64}
        assert persistent(repo) == [None, None]
    proj.close()


def test_closing_a_repository_git_refuses_closes_every_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should anything start GitPython's persistent cat-file, closing still cleans up."""
    branch_switch(tmp_path, f"sqlite:///{tmp_path / 'app.db'}").close()
    disown(tmp_path, monkeypatch)
    repo = gitrepo.open_repo(tmp_path)
    assert repo is not None
    wanted = bytes.fromhex(blob_hash(FEATURE.encode()))
    with pytest.raises((ValueError, OSError)):  # git answered nothing, or was gone already
        repo.odb.info(wanted)
    proc = repo.git.cat_file_header.proc
    proc.wait()  # git refused the repository and exited
    with pytest.raises(BrokenPipeError):  # the request stays in stdin's buffer
        repo.odb.info(wanted)
    repo.close()  # GitPython < 3.2.1 raises BrokenPipeError here and leaks stdout and stderr
    assert proc.stdin.closed and proc.stdout.closed and proc.stderr.closed
    assert persistent(repo) == [None, None]


# --- every git-reading command, with git in trouble ------------------------------------

COMMANDS = [
    ("status",),
    ("blame",),
    ("show", "r1"),
    ("verify",),
    ("log",),
    ("upgrade",),  # the database is ahead: the error names where f1 came from
    ("sync", "--dry-run"),
]


@pytest.mark.parametrize("trouble", ["dubious-ownership", "sha256", "broken-ref", "shallow"])
def test_git_trouble_fails_no_command_and_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    root = tmp_path / "work"
    root.mkdir()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    if trouble == "shallow":
        origin = tmp_path / "origin"
        origin.mkdir()
        branch_switch(origin, f"sqlite:///{tmp_path / 'origin.db'}").close()
        subprocess.run(
            ["git", "clone", "-q", "--depth=1", "--no-single-branch",
             f"file://{origin}", str(root)],
            check=True,
        )
        with git.Repo(root) as clone, project(root, url) as proj:
            clone.git.checkout("-q", "feature")
            proj.ok("upgrade")
            clone.git.checkout("-q", "main")
        assert walk.shallow_boundary_at(root)
    else:
        branch_switch(root, url, **({"object_format": "sha256"} if trouble == "sha256" else {}))
    if trouble == "broken-ref":  # a branch that names a commit git does not have
        (root / ".git" / "refs" / "heads" / "broken").write_text("1" * 40 + "\n")
    if trouble == "dubious-ownership":
        disown(root, monkeypatch)
    with project(root, url) as proj:
        for command in COMMANDS:
            no_traceback(proj.run(*command))
        synced = proj.run("sync")
        assert synced.exit_code == 0, synced.output
        assert "Did downgrade f1" in synced.output
        assert proj.version() == {"r1"}
        for command in COMMANDS:
            no_traceback(proj.run(*command))


def test_show_carries_on_when_git_refuses_the_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask-Migrate's show needs no git: git's refusal costs the commit line, not the command."""
    branch_switch(tmp_path, f"sqlite:///{tmp_path / 'app.db'}").close()
    disown(tmp_path, monkeypatch)
    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        result = proj.run("show", "r1")
    assert result.exit_code == 0, result.output
    assert "Revision ID: r1" in result.output
    assert "Introduced in: unknown (git could not be read)" in result.output
    assert "Content hash: " in result.output
