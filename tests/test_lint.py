"""``flask db lint``: which revisions, suppressions, exit status and output formats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import jsonschema
import pytest

from tests.apps import Project
from tests.lint_helpers import USER_TABLE, line_of, write_ops

ROOT = Path(__file__).resolve().parent.parent

PLAIN_INDEX = 'op.create_index("ix_name", "account", ["name"])'
SAFE = 'op.add_column("account", sa.Column("email", sa.String(20)))'


def lint_json(proj: Project, *args: str) -> tuple[int, dict[str, Any]]:
    result = proj.run("lint", "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def base(proj: Project) -> Project:
    proj.ok("init")
    write_ops(proj, "r1", None, USER_TABLE)
    return proj


# --- which revisions ---------------------------------------------------------


def test_default_is_what_the_database_has_not_applied(base: Project) -> None:
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    write_ops(base, "r3", "r2", SAFE)
    base.ok("upgrade", "r2")
    before = base.tables(ledger=True)
    _, found = lint_json(base, "--dialect", "postgresql")
    assert found["revisions"] == ["r3"]
    # Read only: the version is where it was, and lint wrote no ledger row.
    assert base.version() == {"r2"}
    assert base.tables(ledger=True) == before


def test_default_on_an_empty_database_is_everything(base: Project) -> None:
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    code, found = lint_json(base, "--dialect", "postgresql")
    assert found["revisions"] == ["r1", "r2"] and code == 1
    assert base.tables() == set()  # not even the version table was created


def test_nothing_to_check(base: Project) -> None:
    base.ok("upgrade")
    result = base.ok("lint")
    assert "No revisions to check." in result.output


def test_named_revisions(base: Project) -> None:
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    _, found = lint_json(base, "r2", "r1", "--dialect", "postgresql")
    assert found["revisions"] == ["r1", "r2"]  # parents first


def test_revisions_and_since_do_not_go_together(base: Project) -> None:
    result = base.run("lint", "r1", "--since", "main")
    assert result.exit_code == 2
    assert "not both" in result.output


@pytest.fixture
def repo(base: Project) -> Iterator[git.Repo]:
    with git.Repo.init(base.root, initial_branch="main") as repo:
        with repo.config_writer() as config:
            config.set_value("user", "name", "Test")
            config.set_value("user", "email", "test@example.invalid")
        yield repo


def commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add("-A")
    repo.git.commit("-m", message)


def test_since_checks_what_the_branch_adds(base: Project, repo: git.Repo) -> None:
    commit_all(repo, "r1 on main")
    repo.git.checkout("-b", "feature")
    write_ops(base, "r2", "r1", PLAIN_INDEX, name="feature")
    commit_all(repo, "r2 on the feature branch")
    # main moves on, and the branch takes it in: main's revisions are not the branch's.
    repo.git.checkout("main")
    write_ops(base, "m2", "r1", 'op.drop_table("account")', name="main")
    commit_all(repo, "m2 on main")
    # A side branch adds r3; the feature branch gets it through a merge.
    repo.git.checkout("-b", "side", "feature")
    write_ops(base, "r3", "r2", SAFE, "pass", name="side")
    commit_all(repo, "r3 on a side branch")
    repo.git.checkout("feature")
    repo.git.merge("--no-ff", "-m", "merge main", "main")
    repo.git.merge("--no-ff", "-m", "merge side", "side")

    code, found = lint_json(base, "--since", "main", "--dialect", "postgresql")
    assert found["revisions"] == ["r2", "r3"]
    assert code == 1  # r2's plain CREATE INDEX
    assert {f["revision"] for f in found["findings"]} == {"r2", "r3"}

    repo.git.checkout("main")
    _, found = lint_json(base, "--since", "main")
    assert found["revisions"] == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("nowhere", "unknown-ref"),
        ("no-repo", "in none"),
    ],
)
def test_since_errors_are_one_line(base: Project, repo: git.Repo, where: str, expected: str,
                                   tmp_path: Path) -> None:
    commit_all(repo, "r1")
    if where == "no-repo":
        (tmp_path / ".git").rename(tmp_path / "git-moved")
        result = base.run("lint", "--since", "main")
    else:
        result = base.run("lint", "--since", "unknown-ref")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert expected in result.output


# --- suppression and configuration ------------------------------------------


def test_allow_with_a_reason(base: Project) -> None:
    path = write_ops(
        base,
        "r2",
        "r1",
        f"""
        {PLAIN_INDEX}  # migrepo: allow index-not-concurrent -- ten rows, built in 1 ms
        # migrepo: allow drop-column -- nothing reads it since release 4
        op.drop_column("account", "name")
        """,
    )
    code, found = lint_json(base, "r2", "--dialect", "postgresql")
    assert code == 0
    allowed = {f["rule"]: f for f in found["findings"] if f["suppressed"]}
    assert allowed["index-not-concurrent"]["reason"] == "ten rows, built in 1 ms"
    assert allowed["drop-column"]["line"] == line_of(path, "op.drop_column")
    assert [f for f in found["findings"] if not f["suppressed"]] == []
    text = base.ok("lint", "r2", "--dialect", "postgresql").output
    assert "0 error(s), 0 warning(s), 2 allowed." in text


@pytest.mark.parametrize(
    ("comment", "problem"),
    [
        ("# migrepo: allow index-not-concurrent", "a reason is required"),
        ("# migrepo: allow index-not-concurrent --   ", "a reason is required"),
        ("# migrepo: allow no-such-rule -- because", "unknown rule no-such-rule"),
        ("# migrepo: allow -- because", "no rule id"),
    ],
)
def test_allow_without_a_reason_is_refused(base: Project, comment: str, problem: str) -> None:
    path = write_ops(base, "r2", "r1", f"{PLAIN_INDEX}  {comment}")
    code, found = lint_json(base, "r2", "--dialect", "postgresql")
    assert code == 1
    by_rule = {f["rule"]: f for f in found["findings"]}
    assert not by_rule["index-not-concurrent"]["suppressed"]
    assert problem in by_rule["bad-suppression"]["message"]
    assert by_rule["bad-suppression"]["line"] == line_of(path, "op.create_index")


@pytest.mark.parametrize(
    "ignore", [["index-not-concurrent", "irreversible-downgrade"], "index-not-concurrent, raw-sql"]
)
def test_lint_ignore_config(proj: Project, ignore: Any) -> None:
    proj.config["MIGREPO_LINT_IGNORE"] = ignore
    proj.ok("init")
    write_ops(proj, "r1", None, USER_TABLE)
    write_ops(proj, "r2", "r1", PLAIN_INDEX)
    code, found = lint_json(proj, "r2", "--dialect", "postgresql")
    assert code == 0
    (finding,) = [f for f in found["findings"] if f["rule"] == "index-not-concurrent"]
    assert finding["suppressed"] and finding["reason"] == "MIGREPO_LINT_IGNORE"


def test_lint_ignore_unknown_rule(proj: Project) -> None:
    proj.config["MIGREPO_LINT_IGNORE"] = "index-not-concurent"
    proj.ok("init")
    result = proj.run("lint")
    assert result.exit_code == 2
    assert "MIGREPO_LINT_IGNORE names unknown rules index-not-concurent" in result.output


# --- exit status and output --------------------------------------------------


def test_warnings_count_only_with_strict(base: Project) -> None:
    write_ops(base, "r2", "r1", "op.execute(\"UPDATE account SET name = 'x'\")")
    assert base.run("lint", "r2").exit_code == 0
    strict = base.run("lint", "r2", "--strict")
    assert strict.exit_code == 1
    assert "warning [raw-sql]" in strict.output


def test_text_groups_by_revision(base: Project) -> None:
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    write_ops(base, "r3", "r2", 'op.drop_column("account", "name")')
    result = base.run("lint", "--dialect", "postgresql")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith(("r1 ", "r2 ", "r3 "))]
    assert [lines[n].split()[0] for n in starts] == ["r2", "r3"]
    assert "error [index-not-concurrent]" in lines[starts[0] + 1]
    assert "error [drop-column]" in lines[starts[1] + 1]
    assert lines[-1] == "3 revisions checked for postgresql: 2 error(s), 0 warning(s), 0 allowed."


def test_json_shape(base: Project) -> None:
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    _, found = lint_json(base, "r2", "--dialect", "postgresql")
    schema = json.loads((ROOT / "docs" / "schemas" / "lint.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(found)
    assert set(found) == {"dialect", "revisions", "findings"}
    keys = {
        "rule", "severity", "revision", "file", "line", "table", "column", "message",
        "databases", "why", "fix", "suppressed", "reason",
    }
    for finding in found["findings"]:
        assert set(finding) == keys
        assert finding["severity"] in ("error", "warning")
        assert isinstance(finding["line"], int) and isinstance(finding["suppressed"], bool)


def test_sarif(base: Project, repo: git.Repo) -> None:
    """Valid SARIF 2.1.0 (the OASIS schema), with what code scanning reads from it."""
    path = write_ops(
        base,
        "r2",
        "r1",
        f"""
        {PLAIN_INDEX}
        op.drop_column("account", "name")  # migrepo: allow drop-column -- unused since v4
        """,
    )
    result = base.run("lint", "r2", "--dialect", "postgresql", "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "migrepo"
    rules = driver["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)) and "index-not-concurrent" in ids
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    by_rule = {r["ruleId"]: r for r in run["results"]}
    for result_ in run["results"]:
        assert rules[result_["ruleIndex"]]["id"] == result_["ruleId"]
        assert result_["level"] in ("error", "warning") and result_["message"]["text"]
    index = by_rule["index-not-concurrent"]
    (location,) = index["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "migrations/versions/r2_x.py"
    assert physical["region"]["startLine"] == line_of(path, "op.create_index")
    assert "suppressions" not in index
    assert by_rule["drop-column"]["suppressions"] == [
        {"kind": "inSource", "justification": "unused since v4"}
    ]


def test_help_names_every_rule(base: Project) -> None:
    from migrepo.lint.rules import RULES

    text = base.ok("lint", "--help").output
    for rule in RULES:
        if rule != "bad-suppression":
            assert rule in text
    assert "--since" in base.ok("lint", "--help").output
    assert "--down" in base.ok("sql", "--help").output


def test_an_env_py_written_for_flask_migrate(base: Project) -> None:
    """Such a file calls context.configure() itself, with its own url: --dialect and the
    capture still apply, and lint reads the database through its online branch."""
    from tests.test_failures import FLASK_MIGRATE_ENV

    (base.migrations / "env.py").write_text(FLASK_MIGRATE_ENV)
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    code, found = lint_json(base, "--dialect", "postgresql")
    assert found["revisions"] == ["r1", "r2"] and code == 1
    assert {f["rule"] for f in found["findings"]} == {"index-not-concurrent"}
    shown = base.ok("sql", "r2", "--dialect", "postgresql").stdout
    assert "CREATE INDEX ix_name ON account (name);" in shown


def test_nothing_of_a_run_outlives_it(base: Project) -> None:
    """The dialect and the recorder live in the run's hooks, and only for the capture."""
    write_ops(base, "r2", "r1", PLAIN_INDEX)
    app = base.app()
    assert base.run("lint", "--dialect", "postgresql", app=app).exit_code == 1
    assert "dialect" not in app.extensions["migrate"].configure_args
    # The same app then renders for its own database.
    shown = base.ok("sql", "r2", app=app).stdout
    assert "BEGIN;" not in shown  # SQLite: no transactional DDL in offline mode


def test_several_databases_write_no_sql_files(
    tmp_path: Path, flask_app_file: Any
) -> None:
    """`upgrade --sql` writes <bind>.sql files in the working directory; sql and lint
    record the statements instead, and leave such files alone."""
    import subprocess
    import sys

    url, binds = f"sqlite:///{tmp_path / 'main.db'}", {"users": f"sqlite:///{tmp_path / 'u.db'}"}
    app_file = flask_app_file(url, binds)
    flask = [sys.executable, "-m", "flask", "--app", str(app_file), "db"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*flask, *args], cwd=tmp_path, check=False, capture_output=True, text=True
        )

    assert run("init", "--multidb").returncode == 0
    assert run("migrate", "--rev-id", "r1").returncode == 0
    (tmp_path / "users.sql").write_text("kept\n")
    shown = run("sql", "r1")
    assert shown.returncode == 0, shown.stderr
    assert "CREATE TABLE item_users" in shown.stdout and "CREATE TABLE user" in shown.stdout
    linted = run("lint", "--format", "json")
    assert linted.returncode == 0, linted.stderr
    assert json.loads(linted.stdout)["revisions"] == ["r1"]
    assert (tmp_path / "users.sql").read_text() == "kept\n"
    assert not (tmp_path / ".sql").exists()
