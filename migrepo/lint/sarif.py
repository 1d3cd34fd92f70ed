"""A lint report as SARIF 2.1.0, for CI code scanning.

Every rule goes in ``tool.driver.rules`` with its help text; each finding is
a result with its rule, level and the revision file's line, the file's URI
relative to the git repository's root (or, outside one, to the working
directory). Suppressed findings carry a ``suppressions`` entry with the reason.
"""

from __future__ import annotations

import os
from typing import Any

from migrepo.lint.check import Report
from migrepo.lint.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def to_sarif(report: Report, root: str, version: str) -> dict[str, Any]:
    """The report as a SARIF log; ``root`` is the directory URIs are relative to."""
    rules = list(RULES.values())
    index = {rule.id: n for n, rule in enumerate(rules)}
    driver = {
        "name": "migrepo",
        "version": version,
        "rules": [
            {
                "id": rule.id,
                "name": rule.id.replace("-", " ").title().replace(" ", ""),
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.why},
                "help": {
                    "text": f"{rule.why}\nFix: {rule.fix}",
                    "markdown": f"{rule.why}\n\n**Fix:** {rule.fix}",
                },
                "defaultConfiguration": {"level": rule.severity},
                "properties": {"databases": list(rule.databases)},
            }
            for rule in rules
        ],
    }
    results = []
    for finding in report.findings:
        location: dict[str, Any] = {"uri": _relative(finding.file, root)}
        physical: dict[str, Any] = {"artifactLocation": location}
        if finding.line is not None:
            physical["region"] = {"startLine": finding.line}
        result: dict[str, Any] = {
            "ruleId": finding.rule.id,
            "ruleIndex": index[finding.rule.id],
            "level": finding.rule.severity,
            "message": {"text": f"{finding.message}. Fix: {finding.rule.fix}"},
            "locations": [{"physicalLocation": physical}],
            "properties": {"revision": finding.revision},
        }
        if finding.suppressed:
            result["suppressions"] = [
                {"kind": "inSource", "justification": finding.reason or ""}
            ]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _relative(path: str | None, root: str) -> str:
    if path is None:
        return ""
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    return relative.replace(os.sep, "/")


def repository_root(directory: str) -> str:
    """The git work tree holding ``directory``, else the folder holding ``directory``.

    Best effort: without git or a repository the URIs are relative to the
    project (the migrations directory's parent).
    """
    try:
        import git

        with git.Repo(directory, search_parent_directories=True) as repo:
            if repo.working_tree_dir is not None:
                return str(repo.working_tree_dir)
    except Exception:  # no git, no repository: relative to the project
        pass
    return os.path.dirname(os.path.abspath(directory))
