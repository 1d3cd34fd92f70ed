"""``pytest --migrepo``: the checks of :func:`migrepo.testing.checks` as test items.

:mod:`migrepo.testing.plugin` registers :class:`ChecksPlugin` only when
``--migrepo`` is given. It adds a ``migrepo`` node, with one item per check,
before the other tests. The items share one throwaway database and run the
checks in order; an item run without those before it (``-k``, another order,
another xdist worker) runs them first, unreported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from migrepo.testing._pytest_app import MigrepoSetupError, database_options, known, load_app

if TYPE_CHECKING:
    from flask import Flask

    from migrepo.testing import Check, Outcome

# A check, across the two times the checks are listed: (name, revision, bind).
Key = tuple[str, str | None, str | None]


def _key(check: Check) -> Key:
    return (check.name, check.revision, check.bind)


class ChecksPlugin:
    """The hooks of ``--migrepo``, and the checks' database for the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.checks = _Checks(config)

    @pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: they apply to the checks too
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        collector = MigrepoChecks.from_parent(session, name="migrepo", nodeid="migrepo")
        collector.checks = self.checks
        # Collected the way pytest collects a file, so a failure is a collection error.
        collector.ihook.pytest_collectstart(collector=collector)
        report = collector.ihook.pytest_make_collect_report(collector=collector)
        session.ihook.pytest_collectreport(report=report)
        if report.passed:
            items[:0] = [node for node in report.result if isinstance(node, pytest.Item)]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Any:
        report = yield
        if isinstance(item, CheckItem) and report.skipped and isinstance(report.longrepr, tuple):
            # A skipped check names itself, not the line of this file that skipped it.
            report.longrepr = (item.nodeid, None, report.longrepr[2])
        return report

    def pytest_sessionfinish(self) -> None:
        self.checks.close()


class MigrepoChecks(pytest.Collector):
    """The ``migrepo`` node: one item per check."""

    checks: _Checks

    def collect(self) -> list[CheckItem]:
        from migrepo.testing import checks, throwaway_database

        app = load_app(self.config)
        url, create_db = database_options(self.config)
        # The list of checks, from a database used for nothing else: the run
        # gets its own when the first check runs, and gives it back after the last.
        with app.app_context(), throwaway_database(url=url, create_db=create_db) as target:
            found = checks(target)
        return [
            CheckItem.from_parent(self, name=_item_name(c), key=_key(c), checks=self.checks)
            for c in found
        ]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if known(excinfo.value):
            return f"migrepo could not list its checks: {excinfo.value}"
        return str(super().repr_failure(excinfo))


def _item_name(check: Check) -> str:
    params = [part for part in (check.bind, check.revision) if part]
    return check.name + (f"[{'-'.join(params)}]" if params else "")


class CheckFailed(Exception):
    """A check's Outcome was a failure."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class CheckItem(pytest.Item):
    """One check of :func:`migrepo.testing.checks`."""

    def __init__(self, *, key: Key, checks: _Checks, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.checks = checks

    def runtest(self) -> None:
        try:
            outcome = self.checks.outcome(self.key, self.nodeid)
        finally:
            self.checks.done(self, self.session)
        if outcome.passed:
            return
        if getattr(outcome, "skipped", False):
            pytest.skip(outcome.reason or "not run")
        raise CheckFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        error = excinfo.value
        if isinstance(error, CheckFailed):
            outcome = error.outcome
            where = f" at {outcome.revision}" if outcome.revision else ""
            bind = f" (bind {outcome.bind!r})" if outcome.bind else ""
            return f"{outcome.check} failed{where}{bind}: {outcome.reason}"
        if known(error):
            return f"migrepo could not run its checks: {error}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


class _Checks:
    """The checks of one session, run in order on one throwaway database."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.app: Flask | None = None
        self.database: Any = None  # the throwaway_database context, while open
        self.order: list[Check] = []
        self.outcomes: dict[Key, Outcome] = {}
        self.failed: str | None = None  # the item that could not set the database up
        self.ran: set[str] = set()

    def outcome(self, key: Key, nodeid: str) -> Outcome:
        """The outcome of the check ``key``, after running every check before it."""
        if self.failed is not None:
            raise MigrepoSetupError(f"not run: see {self.failed}, which could not set up")
        if key not in self.outcomes:
            if self.app is None:
                self._open(nodeid)
            assert self.app is not None
            for check in self.order:
                if _key(check) in self.outcomes:
                    continue
                with self.app.app_context():
                    self._record(check, check.run())
                if key in self.outcomes:
                    break
        if key not in self.outcomes:
            raise MigrepoSetupError(
                f"the check {' '.join(p for p in key if p)} is gone: "
                "the migrations changed after collection"
            )
        return self.outcomes[key]

    def _record(self, check: Check, outcome: Outcome) -> None:
        """Keep ``outcome`` on the item it names, so that a failure names its revision.

        The first stairway check downgrades from the heads to base before it
        climbs: a broken downgrade of a later revision fails there, and its
        Outcome names that revision. That revision's item reports the failure,
        and this one is skipped, as the checks after a failure are.
        """
        from migrepo.testing import Outcome

        blamed: Key = (outcome.check, outcome.revision, outcome.bind)
        later = {_key(c) for c in self.order} - self.outcomes.keys() - {_key(check)}
        if outcome.passed or blamed not in later:
            self.outcomes[_key(check)] = outcome
            return
        self.outcomes[blamed] = outcome
        reason = f"not run: the {outcome.check} failed at {outcome.revision}"
        self.outcomes[_key(check)] = Outcome(
            check.name, False, check.revision, reason, check.bind, skipped=True
        )

    def _open(self, nodeid: str) -> None:
        from migrepo.testing import checks, throwaway_database

        try:
            self.app = load_app(self.config)
            url, create_db = database_options(self.config)
            with self.app.app_context():
                database = throwaway_database(url=url, create_db=create_db)
                target = database.__enter__()
                self.database = database
                self.order = checks(target)
        except Exception:
            self.failed = nodeid  # this item reports the error; the others point to it
            self.close()
            raise

    def done(self, item: CheckItem, session: pytest.Session) -> None:
        """Give the database back once every check item of the session has run."""
        self.ran.add(item.nodeid)
        if all(i.nodeid in self.ran for i in session.items if isinstance(i, CheckItem)):
            self.close()

    def close(self) -> None:
        database, self.database = self.database, None
        if database is not None and self.app is not None:
            with self.app.app_context():
                database.__exit__(None, None, None)
