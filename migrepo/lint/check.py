"""``flask db sql`` and ``flask db lint``: the data; the CLI formats it.

:func:`sql` renders revisions offline as ``upgrade --sql`` does.
:func:`lint` runs the selected revisions offline once, checks each one's
captured operations against :data:`~migrepo.lint.rules.RULES`, and applies
the suppressions written in the revision files and ``MIGREPO_LINT_IGNORE``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrepo.errors import UsageError
from migrepo.lint.rules import RULES, Hit, Rule, check_revision

if TYPE_CHECKING:
    from alembic.script import Script

    from migrepo.engine.run import Run
    from migrepo.lint.capture import Capture

DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite", "mssql", "oracle")
SUPPRESSION = re.compile(
    r"#\s*migrepo:\s*allow\b\s*(?P<rules>[A-Za-z][\w-]*(?:\s*,\s*[A-Za-z][\w-]*)*)?(?P<rest>.*)$"
)


@dataclass
class Finding:
    rule: Rule
    revision: str
    file: str | None
    line: int | None
    table: str | None = None
    column: str | None = None
    detail: str = ""
    suppressed: bool = False
    reason: str | None = None  # the suppression's reason, or "MIGREPO_LINT_IGNORE"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "severity": self.rule.severity,
            "revision": self.revision,
            "file": self.file,
            "line": self.line,
            "table": self.table,
            "column": self.column,
            "message": self.message,
            "databases": list(self.rule.databases),
            "why": self.rule.why,
            "fix": self.rule.fix,
            "suppressed": self.suppressed,
            "reason": self.reason,
        }

    @property
    def message(self) -> str:
        where = ".".join(part for part in (self.table, self.column) if part)
        text = self.rule.summary + (f" ({self.detail})" if self.detail else "")
        return f"{text}: {where}" if where else text


@dataclass
class Report:
    dialect: str
    directory: str = ""
    revisions: list[Script] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def counted(self, strict: bool) -> list[Finding]:
        """The findings that fail the run: errors, and warnings too when strict."""
        return [
            f
            for f in self.findings
            if not f.suppressed and (f.rule.severity == "error" or strict)
        ]

    def exit_code(self, strict: bool) -> int:
        return 1 if self.counted(strict) else 0


def new_run(directory: str | None, x_arg: Sequence[str]) -> Run:
    from migrepo.engine.run import Run

    return Run.for_app(directory, x_arg=list(x_arg))


def check_dialect(dialect: str | None) -> str | None:
    if dialect is None:
        return None
    name = dialect.strip().lower()
    if name == "postgres":
        name = "postgresql"
    if name not in DIALECTS:
        raise UsageError(
            f"unknown --dialect {dialect!r}: use one of {', '.join(DIALECTS)}"
        )
    return name


def sql(
    directory: str | None,
    revision: str,
    *,
    down: bool = False,
    dialect: str | None = None,
    x_arg: Sequence[str] = (),
) -> Capture:
    """The SQL of one revision (or an ``A:B`` range), rendered offline."""
    from migrepo.lint.capture import capture
    from migrepo.lint.selection import for_sql

    name = check_dialect(dialect)
    run = new_run(directory, x_arg)
    direction = "downgrade" if down else "upgrade"
    steps = for_sql(run.script, revision, direction)
    with run.recording(direction):  # the ledger rows, as `upgrade --sql` prints them
        return capture(
            run,
            steps.fn,
            direction=direction,
            scripts=steps.scripts,
            starting_rev=steps.starting_rev,
            destination_rev=steps.destination_rev,
            dialect=name,
        )


def lint(
    directory: str | None,
    revisions: Sequence[str] = (),
    *,
    since: str | None = None,
    dialect: str | None = None,
    x_arg: Sequence[str] = (),
    ignore: Any = None,
) -> Report:
    """Check the chosen revisions (default: those not applied yet) for unsafe operations."""
    from migrepo.lint import selection
    from migrepo.lint.capture import capture

    name = check_dialect(dialect)
    ignored = ignored_rules(ignore)
    if revisions and since is not None:
        raise UsageError("name revisions or give --since, not both")
    run = new_run(directory, x_arg)
    script = run.script
    if since is not None:
        chosen = selection.since(run, since)
    elif revisions:
        chosen = selection.named(script, revisions)
    else:
        chosen = selection.pending(run)
    report = Report(name or "", run.directory)
    report.revisions = chosen
    if not chosen:
        return report
    steps = selection.each_once(script, chosen, "upgrade", ordered=True)
    found = capture(
        run, steps.fn, direction="upgrade", scripts=chosen, dialect=name, structure_only=True
    )
    report.dialect = found.dialect
    by_revision: dict[str, list[Any]] = {s.revision: [] for s in chosen}
    for op in found.operations:
        if op.revision in by_revision:
            by_revision[op.revision].append(op)
    for revision in chosen:
        hits = list(check_revision(by_revision[revision.revision], found.dialect))
        hits.extend(_downgrade(revision))
        report.findings.extend(_findings(revision, hits, found.dialect, ignored))
    return report


def ignored_rules(value: Any) -> set[str]:
    """``MIGREPO_LINT_IGNORE``: a list of rule ids or one comma-separated string."""
    if value is None:
        return set()
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, Iterable):
        names = [str(part).strip() for part in value]
    else:
        raise UsageError(f"invalid MIGREPO_LINT_IGNORE {value!r}: give a list of rule ids")
    unknown = sorted(n for n in names if n and n not in RULES)
    if unknown:
        raise UsageError(
            f"MIGREPO_LINT_IGNORE names unknown rules {', '.join(unknown)}: "
            "see `flask db lint --help` for the list"
        )
    return {n for n in names if n}


def _downgrade(revision: Script) -> list[Hit]:
    """``irreversible-downgrade``, read from the file: the downgrade never runs here.

    A revision whose upgrade is empty too (a merge) has nothing to undo.
    """
    from migrepo.lint.capture import Operation

    try:
        with open(revision.path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=revision.path)
    except (OSError, SyntaxError, ValueError):
        return []
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    upgrade, downgrade = functions.get("upgrade"), functions.get("downgrade")
    if upgrade is not None and _empty(upgrade):
        return []
    where = Operation("downgrade", revision.revision, "downgrade", revision.path, 1)
    if downgrade is None:
        return [Hit("irreversible-downgrade", where, "no downgrade()")]
    where.line = downgrade.lineno
    return [Hit("irreversible-downgrade", where, "only pass")] if _empty(downgrade) else []


def _empty(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Only ``pass``, ``...`` or a docstring."""
    return all(
        isinstance(n, ast.Pass) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        for n in function.body
    )


def _findings(
    revision: Script, hits: list[Hit], dialect: str, ignored: set[str]
) -> list[Finding]:
    lines = _lines(revision.path)
    allowed, bad = _suppressions(lines)
    findings = []
    for number, problem in bad:
        findings.append(
            Finding(
                RULES["bad-suppression"], revision.revision, revision.path, number, detail=problem
            )
        )
    for hit in hits:
        rule = RULES[hit.rule]
        if dialect and dialect not in rule.databases:
            continue
        op = hit.op
        line = op.line if op is not None else None
        finding = Finding(
            rule,
            revision.revision,
            (op.file if op is not None else None) or revision.path,
            line,
            op.table if op is not None else None,
            op.column if op is not None else None,
            hit.detail,
        )
        if rule.id in ignored:
            finding.suppressed, finding.reason = True, "MIGREPO_LINT_IGNORE"
        elif line is not None:
            for at in (line, line - 1):
                given = allowed.get((at, rule.id))
                if given:
                    finding.suppressed, finding.reason = True, given
                    break
        findings.append(finding)
    return findings


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except (OSError, ValueError):
        return []


def _suppressions(lines: list[str]) -> tuple[dict[tuple[int, str], str], list[tuple[int, str]]]:
    """``# migrepo: allow RULE[, RULE] -- reason`` comments: the valid ones by
    (line, rule), and the refused ones with what is wrong."""
    allowed: dict[tuple[int, str], str] = {}
    bad: list[tuple[int, str]] = []
    for number, text in enumerate(lines, 1):
        if "migrepo:" not in text:
            continue
        match = SUPPRESSION.search(text)
        if match is None:
            continue
        rules = [r.strip() for r in (match["rules"] or "").split(",") if r.strip()]
        rest = match["rest"].strip()
        reason = rest[2:].strip() if rest.startswith("--") else ""
        unknown = [r for r in rules if r not in RULES]
        if not rules:
            bad.append((number, "no rule id: write `# migrepo: allow <rule-id> -- <reason>`"))
        elif unknown:
            bad.append((number, f"unknown rule {', '.join(unknown)}"))
        elif not reason:
            bad.append((number, "a reason is required after `--`; nothing was suppressed"))
        else:
            for rule in rules:
                allowed[(number, rule)] = reason
    return allowed, bad
