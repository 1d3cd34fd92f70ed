"""Alembic environment for this Flask app; migrepo.runtime does the work.

The engines (one per bind) and the metadata come from the app's Flask-SQLAlchemy
instance, and the keyword arguments given to Migrate(app, db, ...) reach
Alembic's context.configure(). Keywords added to the call below do too.
"""
from logging.config import fileConfig

from alembic import context

from migrepo.runtime import run_migrations

# Python logging from alembic.ini; remove these lines to keep the app's own.
if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_migrations(context, multidb=True, asynchronous=True)
