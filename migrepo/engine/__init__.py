"""The commands: they resolve the app's settings and drive Alembic."""
