"""The ``flask db`` command group.

Each command parses its options, calls one function of the library and, where
the library returns data, formats it. Errors are turned into one-line messages
by :func:`migrepo.engine.explain.explain`, which
:meth:`migrepo.cli._errors.MigrepoCommand.invoke` calls and prints.

The commands live by concern: Flask-Migrate's commands that write revisions or
move the database in :mod:`migrepo.cli._migrate`, the revision graph's in
:mod:`migrepo.cli._graph`, the git and ledger audit in :mod:`migrepo.cli._audit`,
and the deploy-time state in :mod:`migrepo.cli._status`.
"""

from __future__ import annotations

import click

from migrepo.cli import _audit, _graph, _lint, _migrate, _status, _testing
from migrepo.cli._errors import MigrepoGroup
from migrepo.cli._options import GroupOptions, directory_option, x_arg_option

# --- the group ---------------------------------------------------------------


@click.group(cls=MigrepoGroup)
@directory_option
@x_arg_option
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    envvar="MIGREPO_TRACEBACK",
    help="On error, print the full traceback too (or set MIGREPO_TRACEBACK=1).",
)
@click.pass_context
def db(
    ctx: click.Context, directory: str | None, x_arg: tuple[str, ...], show_traceback: bool
) -> None:
    """Perform database migrations (migrepo, Flask-Migrate compatible).

    -d/--directory may also come from FLASK_DB_DIRECTORY.
    """
    ctx.meta["migrepo"] = GroupOptions(directory, x_arg, show_traceback)


# click reads the group's -d from the environment too.
_directory_param = next(p for p in db.params if p.name == "directory")
_directory_param.envvar = "FLASK_DB_DIRECTORY"


for _command in (*_migrate.COMMANDS, *_graph.COMMANDS, *_audit.COMMANDS):
    db.add_command(_command)

# --- deploy-time state: status, resolve (cli/_status.py; --plan is on upgrade/downgrade) ---

db.add_command(_status.status)
db.add_command(_status.resolve)
db.add_command(_testing.test)
db.add_command(_testing.drift)
db.add_command(_lint.sql)  # flask db sql, flask db lint: cli/_lint.py
db.add_command(_lint.lint)
