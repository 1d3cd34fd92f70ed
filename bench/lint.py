"""Time ``flask db lint`` against ``flask db upgrade --sql`` over the same N revisions.

Usage: ``python3 bench/lint.py [--n 500] [--repeat 5] [--venv .venv] [--markdown]``

Issue 13 wants linting N revisions to take at most about the time ``upgrade --sql``
takes for them: both run every revision offline through env.py, and lint adds the
recording of each operation and the rules. The revisions are bench/gen.py's (N
autogenerate-style files, branches and merges); the database is an empty SQLite file,
so lint's default selection (the revisions not yet applied) is all N of them, as
``upgrade --sql`` (base to heads) is. The floor is ``flask --app app_none --help`` in
the same venv. Rounds are round-robin (upgrade --sql, lint, floor), each command in a
fresh process, after one untimed warm-up run each. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import gen

ROOT = gen.BENCH_DIR.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def workdir(n: int, flask: Path) -> Path:
    key = hashlib.sha256(str(flask.resolve()).encode()).hexdigest()[:8]
    init = gen.init_dir("migrepo", flask, f"lint-{key}")
    wd = gen.workdir("migrepo", n, init)
    return wd


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    # lint exits 1 on an error finding; anything else is a failure of the command.
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and "Error:" in proc.stderr):
        tail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"{shlex.join(cmd[1:])} failed ({proc.returncode}): {tail}")
    return elapsed * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv", help="venv with migrepo")
    ap.add_argument("--markdown", action="store_true", help="print a RESULTS.md section")
    args = ap.parse_args()

    flask = args.venv / "bin" / "flask"
    wd = workdir(args.n, flask)
    db = wd / "lint-empty.db"
    db.unlink(missing_ok=True)
    env = gen.child_env(BENCH_DB_URL=f"sqlite:///{db}")
    commands = {
        "upgrade --sql": [str(flask), "--app", "app_migrepo", "db", "upgrade", "--sql"],
        "lint": [str(flask), "--app", "app_migrepo", "db", "lint", "--format", "json"],
        "floor": [str(flask), "--app", "app_none", "--help"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for name, cmd in commands.items():
        log(f"warm-up: {name}")
        timed(cmd, wd, env)
    for round_ in range(args.repeat):
        log(f"round {round_ + 1}/{args.repeat}")
        for name, cmd in commands.items():
            samples[name].append(timed(cmd, wd, env))
    med = {name: statistics.median(values) for name, values in samples.items()}
    ratio = med["lint"] / med["upgrade --sql"]
    above = (med["lint"] - med["floor"]) / max(med["upgrade --sql"] - med["floor"], 1e-9)
    line = (
        f"| {args.n} | {med['upgrade --sql']:.0f} | {med['lint']:.0f} | {med['floor']:.0f} "
        f"| {ratio:.2f} | {above:.2f} |"
    )
    header = [
        "| N | upgrade --sql ms | lint ms | floor ms | lint/upgrade --sql | above floor |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    if args.markdown:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = shlex.join(["python3", "bench/lint.py", *sys.argv[1:]])
        print(f"\n## flask db lint vs upgrade --sql ({when})\n\n`{command}`, median of "
              f"{args.repeat}, SQLite, empty database (all N revisions pending).\n")
    print("\n".join([*header, line]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
