"""Testing migrations: the checks of ``flask db test``, their database, and helpers.

Everything here runs inside the Flask app context and only ever touches the
database it is given (a *target*): never the app's configured database,
unless that exact URL is passed explicitly. ::

    with app.app_context():
        with throwaway_database() as target:
            for check in checks(target):
                outcome = check.run()
                print(outcome.check, outcome.passed, outcome.revision, outcome.reason)

A target is a URL string for an app with one database, or, for a
multi-database app (the flask-multidb templates, ``SQLALCHEMY_BINDS``), a
mapping from bind name to URL, ``""`` being the default database.
:func:`throwaway_database` yields the right one for the app.

Importing this module imports neither Alembic, networkx nor GitPython.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Check",
    "Outcome",
    "Target",
    "checks",
    "downgrade_to",
    "throwaway_database",
    "upgrade_to",
]

# A database to test against: a URL, or bind name -> URL for a multi-database app.
Target = str | Mapping[str, str]


@dataclass(frozen=True)
class Outcome:
    """The result of one check.

    ``check`` is ``single-head``, ``upgrade``, ``model-match``, ``stairway`` or
    ``round-trip``; ``revision`` the revision a failure is about (for the
    stairway, the step's revision); ``reason`` one line, None when passed.
    """

    check: str
    passed: bool
    revision: str | None
    reason: str | None
    bind: str | None = None
    # Not run because an earlier check left the database in an unknown state.
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """One check, ready to run on the target :func:`checks` was given.

    Run the checks of one :func:`checks` call in their order: each starts
    from the state the previous one left.
    """

    name: str
    revision: str | None
    bind: str | None
    _run: Callable[[], Outcome] = field(repr=False, compare=False, default=lambda: _never())

    def run(self) -> Outcome:
        """Run the check; a failed check returns an Outcome with ``passed`` False.

        Raises :class:`~migrepo.errors.UsageError` only when the checks cannot
        run at all: an env.py that builds its own engine, which migrepo cannot
        point at the target.
        """
        from migrepo.errors import UsageError

        try:
            return self._run()
        except UsageError:
            raise
        except Exception as exc:  # a check reports, it never raises
            from migrepo.testing._schema import one_line

            return Outcome(self.name, False, self.revision, one_line(exc), self.bind)


def _never() -> Outcome:
    raise RuntimeError("this Check was built without a runner")


def checks(
    target: Target, *, directory: str | None = None, x_arg: str | Sequence[str] | None = None
) -> list[Check]:
    """The checks to run one after another on the empty database ``target``.

    Call inside the app context. The order: ``single-head``, ``upgrade``,
    ``model-match``, then one ``stairway`` check per revision, oldest first,
    then ``round-trip``. ``target`` is what :func:`throwaway_database`
    yields: a URL, or for a multi-database app a mapping bind -> URL.
    ``x_arg`` values reach env.py's ``context.get_x_argument()``.
    """
    from migrepo.testing._checks import build

    return build(target, directory, x_arg)


@contextmanager
def throwaway_database(*, url: Target | None = None, create_db: bool = False) -> Iterator[Target]:
    """Inside the app context: yield an empty database to test against.

    By default, a temporary SQLite file (one per bind) for an app on SQLite,
    deleted afterwards. With ``create_db``, a scratch database created on the
    app's own server (PostgreSQL, MySQL or MariaDB) and dropped afterwards.
    With ``url``, that database (a mapping bind -> URL for a multi-database
    app): it must be empty, and what the checks create in it is dropped
    afterwards.

    The app's configured database is refused (:class:`~migrepo.errors.UsageError`)
    unless ``url`` is exactly its configured URL.
    """
    from migrepo.testing._target import throwaway

    with throwaway(url=url, create_db=create_db) as target:
        yield target


def upgrade_to(
    target: Target,
    revision: str,
    *,
    directory: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> None:
    """Upgrade the database at ``target`` (never the app's) to ``revision``."""
    from migrepo.testing._target import move

    move(target, revision, "upgrade", directory, x_arg)


def downgrade_to(
    target: Target,
    revision: str,
    *,
    directory: str | None = None,
    x_arg: str | Sequence[str] | None = None,
) -> None:
    """Downgrade the database at ``target`` (never the app's) to ``revision``."""
    from migrepo.testing._target import move

    move(target, revision, "downgrade", directory, x_arg)
