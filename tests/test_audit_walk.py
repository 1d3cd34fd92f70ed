"""The one git walk behind blame, show and verify (migrepo.audit.walk), on real repositories.

Each test builds its history with git itself: merges with and without
conflicts, renames between version locations, files added again, rewritten
history, shallow clones and merges in progress.
"""

from __future__ import annotations

import doctest
import json
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git
import pytest

from migrepo.audit import lineage, walk
from tests.apps import Project, project

ADA = git.Actor("Ada Lovelace", "ada@example.com")
GRACE = git.Actor("Grace Hopper", "grace@example.com")
DAYS = [f"{1709543700 + day * 86400} +0100" for day in range(10)]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[git.Repo]:
    with git.Repo.init(tmp_path, initial_branch="main") as repo:
        with repo.config_writer() as config:
            config.set_value("user", "name", ADA.name)
            config.set_value("user", "email", ADA.email)
        yield repo


def commit(repo: git.Repo, message: str, day: int, *paths: Path, who: git.Actor = ADA) -> str:
    """Stage ``paths`` and commit with git itself: a merge in progress becomes a merge commit."""
    if paths:
        repo.git.add("--", *map(str, paths))
    env = {
        "GIT_AUTHOR_NAME": who.name, "GIT_AUTHOR_EMAIL": who.email,
        "GIT_COMMITTER_NAME": who.name, "GIT_COMMITTER_EMAIL": who.email,
        "GIT_AUTHOR_DATE": DAYS[day], "GIT_COMMITTER_DATE": DAYS[day],
    }
    repo.git.commit("--no-verify", "-m", message, env=env)
    return repo.head.commit.hexsha


def rev_file(proj: Project, rev: str) -> Path:
    [path] = [p for p in proj.migrations.rglob(f"{rev}_*.py")]
    return path


def blame(proj: Project, *revs: str) -> dict[str, dict[str, object]]:
    rows = json.loads(proj.ok("blame", "--format", "json", *revs).stdout)
    return {row["revision"]: row for row in rows}


def sha(row: dict[str, object], key: str) -> str | None:
    commit = row[key]
    return None if commit is None else commit["sha"]  # type: ignore[index]


def committed_base(proj: Project, repo: git.Repo) -> str:
    """migrations/ with revision a1, committed on main."""
    proj.ok("init")
    proj.ok("revision", "-m", "create users", "--rev-id", "a1")
    return commit(repo, "Create users", 0, proj.migrations)


def test_replay_doctest() -> None:
    result = doctest.testmod(lineage)
    assert result.attempted > 0 and result.failed == 0


# --- merge commits -----------------------------------------------------------------


def test_no_ff_merge_side_file_keeps_its_commit_and_merge_revision_is_the_merges(
    proj: Project, repo: git.Repo
) -> None:
    committed_base(proj, repo)
    repo.git.checkout("-b", "feature")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3", "--head", "a1")
    on_feature = commit(repo, "Add orders", 1, rev_file(proj, "c3"), who=GRACE)
    repo.git.checkout("main")
    proj.ok("revision", "-m", "add email", "--rev-id", "b2", "--head", "a1")
    on_main = commit(repo, "Add email", 2, rev_file(proj, "b2"))
    # The README's story: merge, join the heads, commit the merge revision with the merge.
    repo.git.merge("--no-ff", "--no-commit", "feature")
    proj.ok("merge", "heads", "--rev-id", "m4")
    repo.git.add("--", str(proj.migrations))
    merged = commit(repo, "Merge feature", 3)
    assert len(repo.head.commit.parents) == 2

    rows = blame(proj)
    assert sha(rows["c3"], "introduced_in") == sha(rows["c3"], "last_changed_in") == on_feature
    assert sha(rows["b2"], "introduced_in") == on_main
    assert sha(rows["m4"], "introduced_in") == sha(rows["m4"], "last_changed_in") == merged
    assert rows["m4"]["state"] == "committed"
    assert proj.ok("show", "m4").stdout.splitlines()[-1].startswith(
        f"Introduced in: {merged[:7]} Merge feature (Ada Lovelace"
    )
    text = proj.ok("blame", "m4").stdout.splitlines()
    assert text[0].startswith(f"m4  {merged[:7]} ")


def test_file_added_while_resolving_a_conflict(proj: Project, repo: git.Repo) -> None:
    committed_base(proj, repo)
    repo.git.checkout("-b", "feature")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    on_feature = commit(repo, "Add orders", 1, proj.migrations, who=GRACE)
    repo.git.checkout("main")
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    commit(repo, "Add email", 2, proj.migrations)
    # Both branches rewrote HEADS: git stops on it.
    with pytest.raises(git.GitCommandError):
        repo.git.merge("feature")
    assert "<<<<<<<" in (proj.migrations / "HEADS").read_text()

    # During the merge: the feature's revision is staged, not untracked.
    rows = blame(proj, "c3")
    assert rows["c3"]["state"] == "staged"
    assert rows["c3"]["introduced_in"] is None
    found = proj.run("verify").output  # exit 1: HEADS holds conflict markers
    assert (
        f"warning: migrations/versions/{rev_file(proj, 'c3').name} is not committed (staged)"
        ": commit it with the code" in found.splitlines()
    )

    proj.ok("merge", "heads", "--rev-id", "m4")
    m4 = rev_file(proj, "m4")
    assert blame(proj, "m4")["m4"]["state"] == "untracked"
    repo.git.add("--", str(proj.migrations))
    assert blame(proj, "m4")["m4"]["state"] == "staged"
    merged = commit(repo, "Merge feature, joining the heads", 3)

    rows = blame(proj)
    assert sha(rows["m4"], "introduced_in") == sha(rows["m4"], "last_changed_in") == merged
    assert sha(rows["c3"], "introduced_in") == on_feature
    assert {row["state"] for row in rows.values()} == {"committed"}
    assert m4.exists()
    assert proj.ok("verify").output == "ok: the migrations directory is sound\n"


# --- renames and re-adds ----------------------------------------------------------------


def test_file_moved_between_version_locations(proj: Project, repo: git.Repo) -> None:
    added = committed_base(proj, repo)
    ini = proj.migrations / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "[alembic]\n",
            # path_separator = os, in the generated alembic.ini
            f"[alembic]\nversion_locations = %(here)s/versions{os.pathsep}%(here)s/archive\n",
            1,
        )
    )
    (proj.migrations / "archive").mkdir()
    old = rev_file(proj, "a1")
    new = proj.migrations / "archive" / old.name
    commit(repo, "Two version locations", 1, ini)
    repo.git.mv("--", str(old), str(new))
    moved = commit(repo, "Archive the first revision", 2)

    rows = blame(proj, "a1")
    assert rows["a1"]["path"] == f"migrations/archive/{old.name}"
    assert sha(rows["a1"], "introduced_in") == added
    assert sha(rows["a1"], "last_changed_in") == moved


def test_file_added_deleted_and_added_again(proj: Project, repo: git.Repo) -> None:
    committed_base(proj, repo)
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    commit(repo, "Add email", 1, proj.migrations)
    b2 = rev_file(proj, "b2")
    text = b2.read_text()
    repo.git.rm("--", str(b2))
    commit(repo, "Drop b2", 2)
    b2.write_text(text)
    again = commit(repo, "Bring b2 back", 3, b2)

    rows = blame(proj, "b2")
    assert sha(rows["b2"], "introduced_in") == sha(rows["b2"], "last_changed_in") == again


# --- the cache ----------------------------------------------------------------------


def locations(proj: Project) -> list[str]:
    return ["migrations/versions"]


def test_cache_is_extended_and_survives_a_rewritten_history(
    proj: Project, repo: git.Repo
) -> None:
    first = committed_base(proj, repo)
    cache = proj.migrations / ".migrepo" / walk.CACHE_FILE
    blame(proj)
    assert json.loads(cache.read_text())["head"] == first

    # Extended: a side branch forked before the cached head, merged after it.
    repo.git.checkout("-b", "feature")
    a1 = rev_file(proj, "a1")
    a1.write_text(a1.read_text() + "# reviewed\n")
    reviewed = commit(repo, "Review a1", 1, a1, who=GRACE)
    repo.git.checkout("main")
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    b2_commit = commit(repo, "Add email", 2, proj.migrations)
    blame(proj)
    repo.git.merge("--no-ff", "-m", "Merge the review", "feature")
    head = repo.head.commit.hexsha

    rows = blame(proj)
    assert json.loads(cache.read_text())["head"] == head
    assert sha(rows["a1"], "introduced_in") == first
    assert sha(rows["a1"], "last_changed_in") == reviewed
    assert sha(rows["b2"], "introduced_in") == b2_commit
    with repo:
        full = walk.history(repo, locations(proj))
        cached = walk.history(repo, locations(proj), proj.migrations)
    assert full is not None and cached is not None and cached.files == full.files

    # Rewritten: the cached head is no longer an ancestor of HEAD.
    repo.git.reset("--hard", b2_commit)
    b2 = rev_file(proj, "b2")
    b2.write_text(b2.read_text() + "# amended\n")
    repo.git.add("--", str(b2))
    amended = repo.git.commit("--amend", "--no-edit", "--date", DAYS[4])
    assert amended
    rows = blame(proj)
    new_head = repo.head.commit.hexsha
    assert sha(rows["b2"], "introduced_in") == sha(rows["b2"], "last_changed_in") == new_head
    assert sha(rows["a1"], "last_changed_in") == first
    assert json.loads(cache.read_text())["head"] == new_head


def test_corrupt_cache_walks_again(proj: Project, repo: git.Repo) -> None:
    first = committed_base(proj, repo)
    blame(proj)
    answer = proj.migrations / ".migrepo" / walk.CACHE_FILE
    walked = proj.migrations / ".migrepo" / walk.WALK_FILE
    assert json.loads(walked.read_text())["head"] == first

    # The cached commit is an ancestor, but the walk to continue is unreadable.
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    second = commit(repo, "Add email", 1, proj.migrations)
    walked.write_text(json.dumps({"format": 1, "head": first, "steps": [["not a step"]]}))
    rows = blame(proj)
    assert sha(rows["a1"], "introduced_in") == first
    assert sha(rows["b2"], "introduced_in") == second
    assert json.loads(walked.read_text())["head"] == second

    answer.write_text("{ not json")
    assert sha(blame(proj)["a1"], "introduced_in") == first
    assert json.loads(answer.read_text())["head"] == second


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only for this process, as root too."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            folder.chmod(stat.S_IRWXU)
        return
    # Root writes whatever the modes say (and CI runs as root): mount the folder
    # read-only over itself instead.
    if shutil.which("mount") is None:
        pytest.skip("root, and no mount command here")
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"root, and cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True
        )
        if remount.returncode != 0:
            pytest.skip(f"root, and cannot remount read-only: {remount.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_read_only_cache_warns_once_and_blames(
    proj: Project, repo: git.Repo, caplog: pytest.LogCaptureFixture
) -> None:
    first = committed_base(proj, repo)
    cache_dir = proj.migrations / ".migrepo"
    cache_dir.mkdir(exist_ok=True)
    with read_only_folder(cache_dir), caplog.at_level(logging.WARNING, logger="migrepo"):
        rows = blame(proj)
    assert sha(rows["a1"], "introduced_in") == first
    assert len([r for r in caplog.records if "not cached" in r.getMessage()]) == 1


def test_cache_write_failure_is_one_warning(
    proj: Project, repo: git.Repo, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache that cannot be written (here: a folder where the file goes)."""
    first = committed_base(proj, repo)
    (proj.migrations / ".migrepo" / walk.CACHE_FILE).mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="migrepo"):
        result = proj.ok("blame", "--format", "json")
    assert json.loads(result.stdout)[0]["introduced_in"]["sha"] == first
    warnings = [r for r in caplog.records if r.name == "migrepo"]
    assert len(warnings) == 1 and "git history not cached" in warnings[0].getMessage()


# --- shallow clones -----------------------------------------------------------------


def test_shallow_clone_names_its_boundary(
    proj: Project, repo: git.Repo, tmp_path: Path, sqlite_url: str
) -> None:
    committed_base(proj, repo)
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    commit(repo, "Add email", 1, proj.migrations)
    proj.ok("upgrade")  # a ledger row naming HEAD~1... of the full history
    a1 = rev_file(proj, "a1")
    a1.write_text(a1.read_text() + "# reviewed\n")
    tip = commit(repo, "Review a1", 2, a1)
    clone_dir = tmp_path / "clone"
    git.Repo.clone_from(f"file://{tmp_path}", clone_dir, depth=1).close()
    with git.Repo(clone_dir) as clone, project(clone_dir, sqlite_url) as shallow:
        assert walk.shallow_boundary(clone) == (tip,)
        result = shallow.ok("blame", "--format", "json")
        assert result.stderr.startswith(
            f"note: shallow clone: git's history stops at {tip[:7]} Review a1; "
        )
        rows = {row["revision"]: row for row in json.loads(result.stdout)}
        for row in rows.values():
            # Never "added by the boundary commit": unknown, and the boundary named.
            assert row["introduced_in"] is None
            assert row["last_changed_in"] is None
            assert row["history_cut_off_at"]["sha"] == tip
            assert row["state"] == "committed"
        text = shallow.ok("blame", "a1").stdout.splitlines()
        assert text[0] == f"a1  (history cut off: added in {tip[:7]} or before)"
        assert shallow.ok("show", "a1").stdout.splitlines()[-1] == (
            f"Introduced in: unknown: this shallow clone's history starts at {tip[:7]}, "
            "which has the file (it was added there or before; `git fetch --unshallow` tells)"
        )

        # A commit made in the clone is known; the files from before keep their cut.
        shallow.ok("revision", "-m", "add orders", "--rev-id", "c3")
        made = commit(clone, "Add orders", 3, shallow.migrations)
        b2 = rev_file(shallow, "b2")
        b2.write_text(b2.read_text() + "# tweak\n")
        changed = commit(clone, "Tweak b2", 4, b2)
        rows = blame(shallow)
        assert sha(rows["c3"], "introduced_in") == made
        assert rows["c3"]["history_cut_off_at"] is None
        assert rows["b2"]["introduced_in"] is None
        assert rows["b2"]["history_cut_off_at"]["sha"] == tip  # type: ignore[index]
        assert sha(rows["b2"], "last_changed_in") == changed
        b2_text = shallow.ok("blame", "b2").stdout.splitlines()
        assert b2_text[3].startswith(f"    changed  {changed[:7]} ")

        # verify and log say what they cannot know.
        result = shallow.run("verify")
        assert result.exit_code == 1  # a1 and b2 changed after they were applied
        found = result.output.splitlines()
        assert found[0].startswith(f"note: shallow clone: git's history stops at {tip[:7]}; ")
        [a1_error] = [line for line in found if "revision a1 changed after" in line]
        assert (
            "; the commit that changed it is not in this shallow clone (its history starts "
            f"at {tip[:7]}); restore the file"
        ) in a1_error
        [b2_error] = [line for line in found if "revision b2 changed after" in line]
        assert f"; it was last changed in commit {changed[:7]} Tweak b2 (Ada Lovelace" in b2_error
        logged = shallow.ok("log")
        assert logged.stderr.startswith(
            f"note: shallow clone: git's history stops at {tip[:7]}; 1 of the commits"
        )
        assert "(not in this shallow clone)" in logged.stdout


def test_log_outside_a_shallow_clone_starts_no_git(proj: Project, repo: git.Repo) -> None:
    committed_base(proj, repo)
    proj.ok("upgrade")
    result = proj.ok("log")
    assert result.stderr == ""
    assert "not in this shallow clone" not in result.stdout


def test_sync_in_a_shallow_clone_says_what_it_lacks(
    proj: Project, repo: git.Repo, tmp_path: Path, sqlite_url: str
) -> None:
    committed_base(proj, repo)
    repo.git.checkout("-b", "feature")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    commit(repo, "Add orders", 1, proj.migrations)
    proj.ok("upgrade")  # the database is at c3, which main lacks
    repo.git.checkout("main")
    (tmp_path / "notes.txt").write_text("main moves on\n")
    tip = commit(repo, "Touch main", 2, tmp_path / "notes.txt")

    clone_dir = tmp_path / "clone"
    git.Repo.clone_from(f"file://{tmp_path}", clone_dir, depth=1, branch="main").close()
    with project(clone_dir, sqlite_url) as shallow:
        upgrade = shallow.run("upgrade")
        assert upgrade.exit_code == 1
        [line] = upgrade.output.splitlines()[-1:]
        assert line.startswith(
            "Error: the database is at revision c3, which this work tree does not have "
            "(which commit added it is unknown: this shallow clone's history stops at "
            f"{tip[:7]}), and its content ("
        )
        assert ") is neither in git nor in migrepo's cache (`git fetch --unshallow` may " \
            "bring it), so `flask db sync` cannot undo it" in line
        sync = shallow.run("sync")
        assert sync.exit_code == 1
        assert f"this shallow clone's history stops at {tip[:7]} and may lack it: run " \
            "`git fetch --unshallow` and run `flask db sync` again" in sync.output
        assert shallow.version() == {"c3"}


def test_shallow_boundary_at_a_linked_work_tree(repo: git.Repo, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x\n")
    first = commit(repo, "One", 0, tmp_path / "f")
    linked = tmp_path.parent / f"{tmp_path.name}-linked"
    repo.git.worktree("add", "--detach", str(linked), first)
    assert walk.shallow_boundary_at(linked / "deep" / "er") == ()
    (Path(repo.git_dir) / "shallow").write_text(first + "\n")
    assert walk.shallow_boundary_at(linked) == (first,)
    assert walk.shallow_boundary_at(tmp_path) == (first,)
    with git.Repo(linked) as other:
        assert walk.shallow_boundary(other) == (first,)
