"""Offline SQL of revisions (``flask db sql``) and checks for unsafe operations
(``flask db lint``).

:mod:`~migrepo.lint.capture` runs revisions offline and records their
operations, :mod:`~migrepo.lint.selection` picks the revisions,
:mod:`~migrepo.lint.rules` holds the rules, :mod:`~migrepo.lint.check` puts
them together and :mod:`~migrepo.lint.sarif` writes SARIF 2.1.0.
"""
