"""migrepo.testing: the checks of `flask db test` through the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrepo.errors import UsageError
from migrepo.testing import Outcome, checks, downgrade_to, throwaway_database, upgrade_to
from tests.apps import Project


def _two_revisions(proj: Project) -> None:
    proj.ok("init")
    proj.ok("migrate", "-m", "users")
    proj.ok("upgrade")
    proj.ok("migrate", "-m", "email", app=proj.app(email=True))


def test_clean_history_passes_every_check_and_leaves_the_app_database(proj: Project) -> None:
    _two_revisions(proj)
    app = proj.app(email=True)
    with app.app_context(), throwaway_database() as target:
        assert isinstance(target, str) and target != proj.url
        found = [c.run() for c in checks(target)]
        folder = Path(target.removeprefix("sqlite:///")).parent
    assert [o.check for o in found] == [
        "single-head",
        "upgrade",
        "model-match",
        "stairway",
        "stairway",
        "round-trip",
    ]
    assert all(o.passed for o in found), found
    assert found[3].revision is not None and found[3].revision != found[4].revision
    assert not folder.exists()  # the temporary database is gone
    assert len(proj.version()) == 1 and proj.tables() == {"alembic_version", "user"}


def test_outcome_to_dict() -> None:
    outcome = Outcome("stairway", False, "abc", "broken")
    assert outcome.to_dict() == {
        "check": "stairway",
        "passed": False,
        "revision": "abc",
        "reason": "broken",
        "bind": None,
        "skipped": False,
    }


def test_upgrade_to_and_downgrade_to_move_only_the_target(proj: Project) -> None:
    _two_revisions(proj)
    app = proj.app(email=True)
    before = proj.version()
    with app.app_context(), throwaway_database() as target:
        assert isinstance(target, str)
        first = sorted(before)[0]
        upgrade_to(target, first)
        assert proj.version(target) == before
        upgrade_to(target, "head")
        assert proj.version(target) != before
        downgrade_to(target, "base")
        assert proj.version(target) == set()
    assert proj.version() == before


def test_the_app_database_is_refused(proj: Project, tmp_path: Path) -> None:
    _two_revisions(proj)
    app = proj.app(email=True)
    same_file = f"sqlite:///{tmp_path}/./app.db"
    with app.app_context():
        with (
            pytest.raises(UsageError, match="app's configured database"),
            throwaway_database(url=same_file),
        ):
            pass
        with pytest.raises(UsageError, match="app's configured database"):
            upgrade_to(same_file, "head")
        # Its exact URL is allowed, but the database is not empty.
        with pytest.raises(UsageError, match="not empty"), throwaway_database(url=proj.url):
            pass
    assert len(proj.version()) == 1


def test_importing_migrepo_testing_is_lazy(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys, migrepo.testing, migrepo.testing.drift\n"
        "heavy = {'alembic', 'networkx', 'git', 'gitdb'}\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in heavy)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []
