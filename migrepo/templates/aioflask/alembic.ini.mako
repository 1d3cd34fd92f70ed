# Alembic settings for a migrepo migrations directory. The database URL is not
# kept here: env.py takes it from the Flask app.

[alembic]
# Name new revision files after this pattern (default: %%(rev)s_%%(slug)s).
# file_template = %%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s

# Set to 'true' to run env.py for `flask db revision` even without --autogenerate.
# revision_environment = false

# Separator for multi-path settings such as version_locations.
path_separator = os


# Logging: Alembic's progress (e.g. "Detected added table ...") at INFO on stderr.
[loggers]
keys = root,sqlalchemy,alembic,alembic_plugins,migrepo

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

# Alembic 1.20+ announces each autogenerate plugin at INFO; keep that quiet.
[logger_alembic_plugins]
level = WARN
handlers =
qualname = alembic.runtime.plugins

[logger_migrepo]
level = INFO
handlers =
qualname = migrepo

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
