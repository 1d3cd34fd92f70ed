"""blame, show and verify on real git repositories; the functions of migrepo.audit.gitrepo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from migrepo.audit import gitrepo as _git
from migrepo.errors import GitError
from tests.apps import Project

ADA = git.Actor("Ada Lovelace", "ada@example.com")
GRACE = git.Actor("Grace Hopper", "grace@example.com")
# git's internal date format: seconds since the epoch, then the offset.
MONDAY = "1709543700 +0100"  # 2024-03-04T10:15:00+01:00
TUESDAY = "1709653200 +0100"  # 2024-03-05T16:40:00+01:00
WEDNESDAY = "1709712300 +0100"  # 2024-03-06T09:05:00+01:00


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[git.Repo]:
    """A git work tree at the project root (the parent of ``migrations``)."""
    with git.Repo.init(tmp_path) as repo:
        yield repo


def commit(repo: git.Repo, message: str, who: git.Actor, when: str, *paths: Path) -> git.Commit:
    """Stage ``paths`` (files or folders) and commit as ``who`` at ``when``."""
    if paths:
        repo.git.add("--", *map(str, paths))
    return repo.index.commit(message, author=who, committer=who, author_date=when,
                             commit_date=when)


def rev_file(proj: Project, rev: str) -> Path:
    [path] = [p for p in proj.revision_files() if p.name.startswith(f"{rev}_")]
    return path


def rel(repo: git.Repo, path: Path) -> str:
    return path.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()


def commit_dict(commit: git.Commit) -> dict[str, str]:
    return {
        "sha": commit.hexsha,
        "author": f"{commit.author.name} <{commit.author.email}>",
        "date": commit.authored_datetime.isoformat(),
        "subject": commit.summary,
    }


@pytest.fixture
def history(proj: Project, repo: git.Repo) -> dict[str, git.Commit]:
    """a1 committed by Ada, b2 on top by Grace, then Grace edits a1."""
    proj.ok("init")
    proj.ok("revision", "-m", "create users", "--rev-id", "a1")
    first = commit(repo, "Create the user table", ADA, MONDAY, proj.migrations)
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    second = commit(repo, "Add an email column", GRACE, TUESDAY, proj.migrations)
    a1 = rev_file(proj, "a1")
    a1.write_text(a1.read_text() + "\n# reviewed: names are unique per tenant\n")
    third = commit(repo, "Review the first migration", GRACE, WEDNESDAY, a1)
    return {"first": first, "second": second, "third": third}


def blame_json(proj: Project, *args: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(proj.ok("blame", "--format", "json", *args).stdout)
    return rows


# --- blame -------------------------------------------------------------------


def test_blame_json_names_who_added_and_who_changed(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    rows = blame_json(proj)
    assert [row["revision"] for row in rows] == ["b2", "a1"]  # newest first
    b2, a1 = rows
    assert a1 == {
        "revision": "a1",
        "path": rel(repo, rev_file(proj, "a1")),
        "content_hash": repo.git.hash_object(str(rev_file(proj, "a1"))),
        "introduced_in": commit_dict(history["first"]),
        "last_changed_in": commit_dict(history["third"]),
        "state": "committed",
        "history_cut_off_at": None,
    }
    assert a1["path"] == f"migrations/versions/{rev_file(proj, 'a1').name}"
    assert a1["introduced_in"] == {
        "sha": history["first"].hexsha,
        "author": "Ada Lovelace <ada@example.com>",
        "date": "2024-03-04T10:15:00+01:00",
        "subject": "Create the user table",
    }
    # b2 was written from the same template as a1: `git log --follow` calls it a copy
    # of a1 and goes on into a1's history, which is not b2's.
    assert b2["introduced_in"] == b2["last_changed_in"] == commit_dict(history["second"])
    assert b2["content_hash"] == repo.git.hash_object(str(rev_file(proj, "b2")))


def test_blame_text_one_block_per_revision(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    first, second, third = (history[k].hexsha for k in ("first", "second", "third"))
    a1, b2 = rev_file(proj, "a1"), rev_file(proj, "b2")
    result = proj.ok("blame")
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"b2  {second[:7]} 2024-03-05 Grace Hopper <grace@example.com>  Add an email column",
        f"    path     migrations/versions/{b2.name} (committed)",
        f"    content  {repo.git.hash_object(str(b2))}",
        "",
        f"a1  {first[:7]} 2024-03-04 Ada Lovelace <ada@example.com>  Create the user table",
        f"    path     migrations/versions/{a1.name} (committed)",
        f"    content  {repo.git.hash_object(str(a1))}",
        f"    changed  {third[:7]} 2024-03-06 Grace Hopper <grace@example.com>"
        "  Review the first migration",
    ]


def test_blame_follows_a_rename(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    old = rev_file(proj, "b2")
    new = old.with_name("0002_" + old.name)
    repo.git.mv("--", str(old), str(new))
    renamed = commit(repo, "Number the migrations", ADA, WEDNESDAY)

    [row] = blame_json(proj, "b2")
    assert row["path"] == f"migrations/versions/{new.name}"
    assert row["introduced_in"] == commit_dict(history["second"])
    assert row["last_changed_in"] == commit_dict(renamed)
    assert row["state"] == "committed"


def test_blame_through_a_merge(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    main = repo.active_branch.name
    repo.git.checkout("-b", "feature")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    on_feature = commit(repo, "Add orders", GRACE, TUESDAY, rev_file(proj, "c3"))
    repo.git.checkout(main)
    with repo.config_writer() as config:
        config.set_value("user", "name", ADA.name)
        config.set_value("user", "email", ADA.email)
    repo.git.merge("--no-ff", "-m", "Merge the orders", "feature")
    assert len(repo.head.commit.parents) == 2

    [row] = blame_json(proj, "c3")
    assert row["introduced_in"] == row["last_changed_in"] == commit_dict(on_feature)
    assert row["state"] == "committed"


def test_blame_states_committed_modified_staged_untracked(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    a1 = rev_file(proj, "a1")
    a1.write_text(a1.read_text() + "# not committed yet\n")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    proj.ok("revision", "-m", "add audit", "--rev-id", "d4")
    repo.git.add("--", str(rev_file(proj, "d4")))  # staged, but in no commit

    rows = {row["revision"]: row for row in blame_json(proj)}
    assert {rev: row["state"] for rev, row in rows.items()} == {
        "d4": "staged",
        "c3": "untracked",
        "b2": "committed",
        "a1": "modified",
    }
    # A modified file: the hash is of the work tree's copy, the commits are git's.
    assert rows["a1"]["content_hash"] == repo.git.hash_object(str(a1))
    assert rows["a1"]["content_hash"] != history["third"].tree[rel(repo, a1)].hexsha
    assert rows["a1"]["last_changed_in"] == commit_dict(history["third"])
    assert rows["c3"]["introduced_in"] is None and rows["c3"]["last_changed_in"] is None

    text = proj.ok("blame", "c3", "a1").stdout.splitlines()
    assert text[0] == "c3  (not committed)"
    assert text[1].endswith(" (untracked)")
    assert text[4].startswith(f"a1  {history['first'].hexsha[:7]} ")
    assert text[5].endswith(" (modified)")


def test_blame_outside_git_lists_hashes(proj: Project) -> None:
    assert _git.open_repo(proj.root) is None, "tmp_path must not be inside a git work tree"
    proj.ok("init")
    proj.ok("revision", "-m", "create users", "--rev-id", "a1")
    proj.ok("revision", "-m", "add email", "--rev-id", "b2")
    a1 = rev_file(proj, "a1")

    result = proj.ok("blame")
    assert result.stderr == "note: not in a git work tree: showing content hashes only\n"
    lines = result.stdout.splitlines()
    assert lines[0] == "b2" and lines[4] == "a1"
    assert lines[5] == f"    path     {a1}"
    assert lines[6] == f"    content  {_blob_of(a1)}"

    rows = blame_json(proj, "a1")
    assert rows == [
        {
            "revision": "a1",
            "path": str(a1),
            "content_hash": _blob_of(a1),
            "introduced_in": None,
            "last_changed_in": None,
            "state": None,
            "history_cut_off_at": None,
        }
    ]


def _blob_of(path: Path) -> str:
    """``git hash-object``, computed without a repository."""
    return git.Git().hash_object(str(path))


def test_blame_revisions_by_prefix_and_unknown(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    proj.ok("revision", "-m", "add orders", "--rev-id", "b2x")
    assert [row["revision"] for row in blame_json(proj, "a", "b2x")] == ["a1", "b2x"]

    unknown = proj.run("blame", "zz")
    assert unknown.exit_code == 1
    assert unknown.output.strip().splitlines() == [
        "Error: no revision matches 'zz'; run `flask db history` to list the revisions"
    ]
    ambiguous = proj.run("blame", "b")
    assert ambiguous.exit_code == 2
    assert "revision prefix 'b' is ambiguous (b2, b2x)" in ambiguous.output


# --- show --------------------------------------------------------------------


def test_show_appends_hash_and_introducing_commit(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    out = proj.ok("show", "a1").stdout
    config = Config()
    config.set_main_option("script_location", str(proj.migrations))
    alembic_text = ScriptDirectory.from_config(config).get_revision("a1").log_entry
    first = history["first"]
    assert out == (
        f"{alembic_text}\n"
        f"Content hash: {repo.git.hash_object(str(rev_file(proj, 'a1')))}\n"
        f"Introduced in: {first.hexsha[:7]} Create the user table "
        "(Ada Lovelace <ada@example.com>, 2024-03-04T10:15:00+01:00)\n"
    )


def test_show_head_resolves_and_uncommitted(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    out = proj.ok("show").stdout.splitlines()  # head is b2
    assert out[0].startswith("Rev: b2")
    assert out[-1].startswith(f"Introduced in: {history['second'].hexsha[:7]} Add an email")

    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    out = proj.ok("show", "c3").stdout.splitlines()
    assert out[-2] == f"Content hash: {repo.git.hash_object(str(rev_file(proj, 'c3')))}"
    assert out[-1] == "Introduced in: (not committed)"

    proj.ok("upgrade", "b2")
    out = proj.ok("show", "current").stdout.splitlines()
    assert out[0].startswith("Rev: b2")
    assert out[-2] == f"Content hash: {repo.git.hash_object(str(rev_file(proj, 'b2')))}"


def test_show_several_heads_appends_for_each(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    proj.ok("revision", "-m", "add orders", "--head", "a1", "--splice", "--rev-id", "c3")
    lines = proj.ok("show", "heads").stdout.splitlines()
    shown = [line.split()[1] for line in lines if line.startswith("Rev: ")]
    assert sorted(shown) == ["b2", "c3"]
    second = history["second"]
    appended = {
        "b2": [
            f"Content hash (b2): {repo.git.hash_object(str(rev_file(proj, 'b2')))}",
            f"Introduced in (b2): {second.hexsha[:7]} Add an email column "
            "(Grace Hopper <grace@example.com>, 2024-03-05T16:40:00+01:00)",
        ],
        "c3": [
            f"Content hash (c3): {repo.git.hash_object(str(rev_file(proj, 'c3')))}",
            "Introduced in (c3): (not committed)",
        ],
    }
    # After Alembic's entries, in the order Alembic printed them.
    assert lines[-4:] == appended[shown[0]] + appended[shown[1]]


def test_show_outside_git(proj: Project) -> None:
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    out = proj.ok("show", "a1").stdout.splitlines()
    assert out[-2] == f"Content hash: {_blob_of(rev_file(proj, 'a1'))}"
    assert out[-1] == "Introduced in: (not in a git work tree)"


# --- verify ------------------------------------------------------------------


def test_verify_warns_on_uncommitted_files(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    clean = proj.ok("verify")
    assert clean.output == "ok: the migrations directory is sound\n"

    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    b2 = rev_file(proj, "b2")
    b2.write_text(b2.read_text() + "# tweak\n")
    result = proj.ok("verify")
    assert set(result.output.splitlines()) == {
        f"warning: migrations/versions/{rev_file(proj, 'c3').name} is not committed "
        "(untracked): commit it with the code",
        f"warning: migrations/versions/{b2.name} is not committed (modified): "
        "commit it with the code",
    }
    strict = proj.run("verify", "--strict")
    assert strict.exit_code == 1
    assert strict.output.count("is not committed") == 2

    commit(repo, "Add orders", ADA, WEDNESDAY, proj.migrations)
    assert proj.ok("verify").output == "ok: the migrations directory is sound\n"


def test_git_failures_are_one_line_errors(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    # The branch now names a commit git does not have.
    Path(repo.git_dir, repo.head.reference.path).write_text("1" * 40 + "\n")

    result = proj.run("blame")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: git could not read HEAD: fatal: git show-ref: bad ref "
        f"{repo.head.reference.path} ({'1' * 40})"
    ]

    found = proj.ok("verify").output
    assert (
        "warning: cannot tell which revision files are committed: git could not read HEAD"
        in found
    )

    with pytest.raises(GitError) as info:
        _git.head(repo)
    assert isinstance(info.value.__cause__, git.GitCommandError)


# --- migrepo.audit.gitrepo ------------------------------------------------------------


def state(repo: git.Repo, path: Path) -> str:
    relpath = _git.relative_path(repo, path)
    assert relpath is not None
    return _git.file_states(repo, [relpath])[relpath]


def test_head_and_file_state(proj: Project, repo: git.Repo) -> None:
    proj.ok("init")
    proj.ok("revision", "--rev-id", "a1")
    a1 = rev_file(proj, "a1")
    assert _git.head(repo) == (None, False)  # no commit yet
    assert state(repo, a1) == "untracked"
    assert _git.introduced_in(repo, a1) is None

    made = commit(repo, "Add a1", ADA, MONDAY, proj.migrations)
    assert _git.head(repo) == (made.hexsha, False)
    assert state(repo, a1) == "committed"
    assert _git.introduced_in(repo, a1) == _git.last_changed_in(repo, a1)
    assert _git.introduced_in(repo, a1) == _git.CommitInfo(**commit_dict(made))

    a1.write_text(a1.read_text() + "# edited\n")
    assert _git.head(repo) == (made.hexsha, True)
    assert state(repo, a1) == "modified"

    found = _git.open_repo(a1)  # from a file, deep in the work tree
    assert found is not None
    with found:
        assert Path(str(found.working_tree_dir)).resolve() == proj.root.resolve()


def test_read_blob_returns_an_older_version(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    a1 = rev_file(proj, "a1")
    old = history["first"].tree[rel(repo, a1)].data_stream.read()
    old_hash = history["first"].tree[rel(repo, a1)].hexsha
    assert a1.read_bytes() != old  # the work tree has the reviewed version

    assert _git.read_blob(repo, old_hash) == old
    assert _git.read_blob(repo, old_hash.upper()) == old
    assert _git.read_blob(repo, repo.git.hash_object(str(a1))) == a1.read_bytes()
    assert _git.read_blob(repo, "0" * 40) is None
    assert _git.read_blob(repo, history["first"].hexsha) is None  # a commit, not a blob
    assert _git.read_blob(repo, "not-a-hash") is None


def test_commits_and_branches_with_a_file_on_another_branch(
    proj: Project, repo: git.Repo, history: dict[str, git.Commit]
) -> None:
    main = repo.active_branch.name
    repo.git.checkout("-b", "feature")
    proj.ok("revision", "-m", "add orders", "--rev-id", "c3")
    c3 = rev_file(proj, "c3")
    relpath = rel(repo, c3)
    on_feature = commit(repo, "Add orders", GRACE, WEDNESDAY, proj.migrations)
    repo.git.checkout(main)
    assert not c3.exists()

    assert _git.commits_and_branches_with(repo, relpath) == ([on_feature.hexsha], ["feature"])
    both = _git.commits_and_branches_with(repo, rel(repo, rev_file(proj, "b2")))
    assert both == ([history["second"].hexsha], sorted(["feature", main]))
    assert _git.commits_and_branches_with(repo, "migrations/versions/none.py") == ([], [])
    assert _git.commits_and_branches_with(repo, rel(repo, rev_file(proj, "a1")), limit=1) == (
        [history["third"].hexsha],
        sorted(["feature", main]),
    )
