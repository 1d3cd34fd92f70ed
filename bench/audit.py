"""The audit cases: blame, show, verify and log over a real git history (issue 12).

For N revisions, ``bench/work/audit/<key>-n<N>/`` is a git work tree whose
history adds each revision in its own commit, with the generated graph's
shape: side revisions on a side branch, main revisions on main, and each
merge revision added by the git merge commit that joins the branches (the
README's `flask db merge heads` during a `git merge`). The history is written
with `git fast-import`, so it takes seconds even at N = 2000. Its database has
a ledger of N rows, from migrepo's own `flask db upgrade`.

Flask-Migrate has none of these commands, so the reference points are
migrepo's `flask db heads`, the floor (`flask --app app_none --help`) and
`git log --name-status` over the version locations, measured in the same
rounds. The goals are those of issue 12. Stdlib only.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gen
import venvs

AUDIT_VERSION = 1
CASES = ("blame-cold", "blame-cached", "show", "verify", "log")
EPOCH = 1_700_000_000
HEADS_HEADER = (
    "# migrepo: the revision graph's heads. A git conflict here? Run `flask db merge heads`."
)


def _data(text: str | bytes) -> bytes:
    payload = text.encode() if isinstance(text, str) else text
    return b"data %d\n" % len(payload) + payload + b"\n"


def fast_import_stream(n: int, skeleton: dict[str, bytes]) -> tuple[bytes, dict[str, object]]:
    """A `git fast-import` stream: the skeleton commit, then one commit per revision."""
    revs = gen.build_graph(n)
    out: list[bytes] = []
    when = EPOCH

    def header(ref: str, mark: int, message: str) -> None:
        nonlocal when
        when += 60
        out.append(f"commit {ref}\nmark :{mark}\n".encode())
        who = f"Bench Dev <dev@example.com> {when} +0000\n"
        out.append(f"author {who}committer {who}".encode())
        out.append(_data(message))

    header("refs/heads/main", 1, "Start the app")
    for path, data in sorted(skeleton.items()):
        out.append(f"M 100644 inline {path}\n".encode() + _data(data))
    mark_of: dict[str, int] = {}  # revision id -> mark of the commit that added it
    main_tip = side_tip = 1
    in_merges = 0
    side_files: list[tuple[str, str]] = []
    for r in revs:
        mark = r.index + 2
        name, text = gen.render(r)
        if r.kind == "merge":
            header("refs/heads/main", mark, "Merge the side branch, joining the heads")
            out.append(f"from :{main_tip}\nmerge :{side_tip}\n".encode())
            # fast-import starts from the first parent's tree: bring the side's files in.
            for side_name, side_text in side_files:
                out.append(
                    f"M 100644 inline migrations/versions/{side_name}\n".encode()
                    + _data(side_text)
                )
            side_files.clear()
            main_tip = mark
            in_merges += 1
        elif r.kind == "side":
            # The branch point (a main revision's commit), or the previous side commit.
            header("refs/heads/side", mark, f"Add {name}")
            out.append(f"from :{mark_of[r.parents[0]]}\n".encode())
            side_tip = mark
            side_files.append((name, text))
        else:
            header("refs/heads/main", mark, f"Add {name}")
            out.append(f"from :{main_tip}\n".encode())
            main_tip = mark
        out.append(f"M 100644 inline migrations/versions/{name}\n".encode() + _data(text))
        mark_of[r.rev] = mark
    out.append(b"done\n")
    meta = {"n": n, "commits": n + 1, "merge_commits": in_merges, "head": revs[-1].rev,
            "middle": revs[n // 2].rev}
    return b"".join(out), meta


def workdir(
    n: int, init_migrations: Path, key: str, flask: Path
) -> tuple[Path, dict[str, object]]:
    """The git work tree for N (cached), with a ledger of N rows in ``audit.db``."""
    wd = gen.WORK_DIR / "audit" / f"v{AUDIT_VERSION}-{key}-n{n}"
    done = wd / ".done"
    revs = gen.build_graph(n)
    meta: dict[str, object] = {"head": revs[-1].rev, "middle": revs[n // 2].rev}
    if done.exists():
        return wd, meta
    if wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True)
    gen.write_apps(wd)
    skeleton = {
        name: (wd / name).read_bytes() for name in ("app_migrepo.py", "app_none.py")
    }
    skeleton[".gitignore"] = b"*.db\n__pycache__/\n"
    for path in sorted(init_migrations.rglob("*")):
        rel = path.relative_to(init_migrations)
        if path.is_file() and "__pycache__" not in rel.parts and rel.parts[0] != "versions":
            skeleton[f"migrations/{rel.as_posix()}"] = path.read_bytes()
    skeleton["migrations/HEADS"] = f"{HEADS_HEADER}\n{revs[-1].rev}\n".encode()
    stream, meta = fast_import_stream(n, skeleton)
    env = gen.child_env()
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=wd, check=True, env=env)
    subprocess.run([*git, "fast-import", "--quiet"], cwd=wd, input=stream, check=True, env=env)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=wd, check=True, env=env)
    proc = subprocess.run(
        [str(flask), "--app", "app_migrepo", "db", "upgrade"],
        cwd=wd, capture_output=True, text=True, check=False,
        env=gen.child_env(BENCH_DB_URL=f"sqlite:///{wd / 'audit.db'}"),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`flask db upgrade` for the audit ledger failed: {proc.stderr[-300:]}")
    done.write_text("ok\n")
    return wd, meta


@dataclass
class AuditRow:
    case: str
    n: int
    target: Any  # run.Cmd
    heads: Any
    floor: Any
    gitlog: Any


def run_audit(s: Any, ns: list[int], run: Any) -> list[AuditRow]:
    """Measure every audit case for each N; ``run`` is bench/run.py's module."""
    rows: list[AuditRow] = []
    Cmd = run.Cmd
    mig: venvs.Venv = s.mig
    fm: venvs.Venv = s.fm
    for n in ns:
        wd, meta = workdir(n, s.init_mig or s.init_fm, mig.key, mig.flask)
        env = {"BENCH_DB_URL": f"sqlite:///{wd / 'audit.db'}"}
        cache = wd / "migrations" / ".migrepo" / "history.json"

        def keep_env(env: dict[str, str] = env) -> dict[str, str]:
            return env

        def cold(env: dict[str, str] = env, cache: Path = cache) -> dict[str, str]:
            cache.unlink(missing_ok=True)
            return env

        args = {
            "blame-cold": (["db", "blame"], cold),
            "blame-cached": (["db", "blame"], keep_env),
            "show": (["db", "show", str(meta["middle"])], keep_env),
            "verify": (["db", "verify"], keep_env),
            "log": (["db", "log", "-n", "20"], keep_env),
        }
        for case in CASES:
            argv, prepare = args[case]
            run.log(f"-- audit {case} N={n}")
            target = Cmd("migrepo", run.flask_cmd(mig, "app_migrepo", *argv), wd, prepare)
            heads = Cmd("heads", run.flask_cmd(mig, "app_migrepo", "db", "heads"), wd, keep_env)
            floor = Cmd("floor", run.flask_cmd(fm, "app_none", "--help"), wd)
            gitlog = Cmd(
                "git log",
                ["git", "log", "--name-status", "--format=%H", "--", "migrations/versions"],
                wd,
            )
            run.measure([target, heads, floor, gitlog], s.repeat, s.timeout)
            rows.append(AuditRow(case, n, target, heads, floor, gitlog))
    return rows


GOALS: dict[str, str] = {
    "blame-cold": "above floor <= 2 x (heads above floor + git log)",
    "blame-cached": "above floor <= heads above floor + 0.1 s",
    "show": "<= 1.2 x heads",
    "verify": "<= 1.2 x heads",
    "log": "<= 1.2 x heads",
}


def judge(row: AuditRow) -> tuple[str, str, str]:
    """(measured, limit, met) for a row, in ms or as a ratio."""
    t, h, f, g = (c.median for c in (row.target, row.heads, row.floor, row.gitlog))
    if None in (t, h, f, g):
        return "-", "-", "ERR"
    assert t is not None and h is not None and f is not None and g is not None
    if row.case == "blame-cold":
        measured, limit = t - f, 2 * ((h - f) + g)
    elif row.case == "blame-cached":
        measured, limit = t - f, (h - f) + 0.1
    else:
        ratio = t / h
        return f"{ratio:.2f} x heads", "1.20 x heads", "yes" if ratio <= 1.2 else "no"
    return (
        f"{measured * 1000:.0f} ms above floor",
        f"{limit * 1000:.0f} ms",
        "yes" if measured <= limit else "no",
    )


HEADER = ["case", "N", "migrepo ms", "heads ms", "floor ms", "git log ms", "measured", "goal",
          "met"]


def table(rows: list[AuditRow], fmt_ms: Callable[..., str], errors: list[str]) -> list[list[str]]:
    out = []
    for row in rows:
        measured, limit, met = judge(row)
        out.append([
            row.case, str(row.n),
            *(fmt_ms(c, errors) for c in (row.target, row.heads, row.floor, row.gitlog)),
            measured, limit, met,
        ])
    return out
