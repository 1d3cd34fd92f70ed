"""Benchmark migrepo against Flask-Migrate 4.1 (``flask db ...`` wall time, fresh processes).

Usage: ``python3 bench/run.py [--n 1,200,1000,5000] [--cases heads,history,...] [--repeat 5]
[--markdown] [--pg-url URL] [--init own|fm] [--reinstall] [--json FILE]``

For every N and case the three commands -- Flask-Migrate, migrepo and the floor (the same
app without a migration extension running ``flask --help``) -- are run round-robin
(fm, migrepo, floor, fm, migrepo, floor, ...), each in a fresh process, after one untimed
warm-up run each.  The table shows medians and the two ratios migrepo/fm and
(migrepo - floor) / (fm - floor).  See bench/README.md.  Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import audit
import gen
import venvs

WORK = gen.WORK_DIR
DB_CASES = ("current", "upgrade-noop", "upgrade-one", "upgrade-base")
ALL_CASES = ("heads", "history", "history-graph", *DB_CASES, "import")
ALIASES = {"history --graph": "history-graph", "upgrade": "upgrade-noop", "all": "all"}
SKIPPED = "skipped (--no-migrepo)"
# "above floor" is not shown when fm is less than this fraction of the floor above it.
NOISE_FRACTION = 0.10
STAT_NAME = ["median"]
DESCRIPTION = {
    "heads": "`db heads`",
    "history": "`db history`",
    "history-graph": "`db history --graph` (migrepo) vs `db history` (fm)",
    "current": "`db current`, db at head",
    "upgrade-noop": "`db upgrade`, db already at head",
    "upgrade-one": "`db upgrade`, one pending revision (db stamped at head~1)",
    "upgrade-base": "`db upgrade` from an empty database",
    "import": "`python -c 'import app_x'`; floor = `import app_none`",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def summary(text: str) -> str:
    """One line of stderr for an ERR cell.

    The first line, except where that says nothing: for a traceback (also Flask's "Error:
    While importing ...") the exception line at the end; for a click usage error the
    "Error: ..." line after the usage text.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "no output"
    if lines[0].startswith(("Traceback", "Error: While importing")):
        return lines[-1][:200]
    if lines[0].startswith("Usage:"):
        return next((ln for ln in lines if ln.startswith("Error:")), lines[0])[:200]
    return lines[0][:200]


# --------------------------------------------------------------------------- databases


class PgAdmin:
    """Runs admin SQL through the fm venv's psycopg (the driver itself is stdlib only)."""

    SCRIPT = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    for s in sys.argv[2:]:\n"
        "        c.execute(s)\n"
    )

    def __init__(self, url: str, python: Path) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        if scheme == "postgres":
            scheme = "postgresql"
        self.admin = urlunsplit(parts._replace(scheme=scheme))
        self.parts = parts._replace(scheme="postgresql+psycopg")
        self.python = python
        self.created: set[str] = set()

    def sql(self, *statements: str) -> None:
        proc = subprocess.run(
            [str(self.python), "-c", self.SCRIPT, self.admin, *statements],
            capture_output=True,
            text=True,
            check=False,
            env=gen.child_env(),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"PostgreSQL admin failed: {summary(proc.stderr)}")

    def url(self, dbname: str) -> str:
        return urlunsplit(self.parts._replace(path="/" + dbname))

    def fresh(self, dbname: str, template: str | None = None) -> str:
        tpl = f" TEMPLATE {template}" if template else " TEMPLATE template0"
        self.sql(f"DROP DATABASE IF EXISTS {dbname}", f"CREATE DATABASE {dbname}{tpl}")
        self.created.add(dbname)
        return self.url(dbname)

    def cleanup(self) -> None:
        if self.created:
            try:
                self.sql(*(f"DROP DATABASE IF EXISTS {d}" for d in sorted(self.created)))
            except RuntimeError as exc:
                log(f"warning: {exc}")


class Databases:
    """Databases stamped at head / head~1 (templates) and fresh per-run copies of them.

    Templates are stamped with Flask-Migrate (the reference): a drop-in replacement must
    accept a database that Flask-Migrate manages.
    """

    def __init__(self, fm: venvs.Venv, pg: PgAdmin | None) -> None:
        self.fm = fm
        self.pg = pg
        self.sqlite_templates: dict[tuple[int, str], Path] = {}
        self.pg_templates: dict[tuple[int, str], str] = {}

    def _stamp(self, n: int, url: str, rev: str) -> None:
        wd = WORK / "run" / f"fm-n{n}"
        proc = subprocess.run(
            [str(self.fm.flask), "--app", "app_fm", "db", "stamp", rev],
            cwd=wd,
            capture_output=True,
            text=True,
            check=False,
            env=gen.child_env(BENCH_DB_URL=url),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"fm `db stamp {rev}` failed: {summary(proc.stderr)}")

    def sqlite_template(self, n: int, state: str) -> Path:
        key = (n, state)
        if key not in self.sqlite_templates:
            _, meta = gen.generated(n)
            rev = str(meta["head"] if state == "head" else meta["head_parent"])
            path = WORK / "db" / f"v{gen.GEN_VERSION}-n{n}-{state}.db"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.unlink(missing_ok=True)
                self._stamp(n, f"sqlite:///{tmp}", rev)
                tmp.rename(path)
            self.sqlite_templates[key] = path
        return self.sqlite_templates[key]

    def pg_template(self, n: int, state: str) -> str:
        assert self.pg is not None
        key = (n, state)
        if key not in self.pg_templates:
            _, meta = gen.generated(n)
            rev = str(meta["head"] if state == "head" else meta["head_parent"])
            name = f"bench_tpl_n{n}_{state}"
            self._stamp(n, self.pg.fresh(name), rev)
            self.pg_templates[key] = name
        return self.pg_templates[key]

    def preparer(
        self, backend: str, n: int, state: str | None, tool: str, wd: Path, fresh: bool
    ) -> Callable[[], dict[str, str]]:
        """Returns a callable run (untimed) before each command; it returns env extras.

        *state*: "head", "pending" (head~1) or None (empty database).
        *fresh*: give every run its own copy (for commands that change the database).
        """
        if backend == "sqlite":
            target = wd / "run.db"
            url = {"BENCH_DB_URL": f"sqlite:///{target}"}
            tpl = self.sqlite_template(n, state) if state else None

            def prep_sqlite() -> dict[str, str]:
                target.unlink(missing_ok=True)
                if tpl is not None:
                    shutil.copyfile(tpl, target)
                return url

            return prep_sqlite

        assert self.pg is not None
        pg = self.pg
        tpl_name = self.pg_template(n, state) if state else None
        if not fresh and tpl_name:
            shared = {"BENCH_DB_URL": pg.url(tpl_name)}
            return lambda: shared
        run_name = f"bench_run_{tool}"

        def prep_pg() -> dict[str, str]:
            return {"BENCH_DB_URL": pg.fresh(run_name, tpl_name)}

        return prep_pg


# --------------------------------------------------------------------------- measuring


@dataclass
class Cmd:
    label: str
    argv: list[str]
    cwd: Path
    prepare: Callable[[], dict[str, str]] | None = None
    check: Callable[[Cmd], str | None] | None = None  # post-warm-up correctness check
    error: str | None = None
    samples: list[float] = field(default_factory=list)  # wall seconds
    cpu_samples: list[float] = field(default_factory=list)  # child user+sys seconds
    warm_stdout: str = ""
    warnings: list[str] = field(default_factory=list)  # failed correctness checks
    env_extra: dict[str, str] = field(default_factory=dict)

    stat: ClassVar[Callable[[list[float]], float]] = statistics.median
    metric: ClassVar[str] = "wall"

    @property
    def median(self) -> float | None:
        """The summary statistic (median unless --stat min), None on error."""
        samples = self.cpu_samples if Cmd.metric == "cpu" else self.samples
        return Cmd.stat(samples) if samples and not self.error else None


@dataclass
class Result:
    wall: float
    cpu: float
    proc: subprocess.CompletedProcess[str] | None
    error: str


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(cmd: Cmd, timeout: float) -> Result:
    """One timed run; database preparation happens before the clock starts."""
    extra = cmd.prepare() if cmd.prepare else {}
    cmd.env_extra = extra
    env = gen.child_env(**extra)
    c0 = _cpu_children()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd.argv,
            cwd=cmd.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(time.perf_counter() - t0, 0.0, None, f"timeout after {timeout:.0f}s")
    wall = time.perf_counter() - t0
    cpu = _cpu_children() - c0
    if proc.returncode != 0:
        return Result(
            wall, cpu, proc, f"exit {proc.returncode}: {summary(proc.stderr or proc.stdout)}"
        )
    return Result(wall, cpu, proc, "")


def measure(cmds: list[Cmd], repeat: int, timeout: float) -> None:
    active = [c for c in cmds if not c.error]
    for c in active:  # warm-up: fills __pycache__ / page cache, verifies the command works
        try:
            res = run_once(c, timeout)
            proc, err = res.proc, res.error
        except (RuntimeError, OSError) as exc:
            proc, err = None, f"setup failed: {exc}"
        if err:
            c.error = err
            log(f"  ! {c.label} failed in warm-up: {' '.join(c.argv[-3:])}")
            text = (proc.stderr or proc.stdout) if proc else err
            for line in text.strip().splitlines()[-15:]:
                log(f"  ! | {line}")
            continue
        assert proc is not None
        c.warm_stdout = proc.stdout
        if c.check:
            try:
                problem = c.check(c)
            except Exception as exc:
                problem = f"check failed: {exc!r}"
            if problem:
                c.warnings.append(problem)
                log(f"  WARNING: {c.label}: {problem}")
    active = [c for c in cmds if not c.error]
    for _ in range(repeat):
        for c in active:
            if c.error:
                continue
            try:
                res = run_once(c, timeout)
            except (RuntimeError, OSError) as exc:
                c.error = f"setup failed: {exc}"
                log(f"  ! {c.label}: {c.error}")
                continue
            if res.error:
                c.error = res.error
                log(f"  ! {c.label}: {res.error}")
            else:
                c.samples.append(res.wall)
                c.cpu_samples.append(res.cpu)


@dataclass
class Row:
    case: str
    backend: str
    n: str
    fm: Cmd
    migrepo: Cmd
    floor: Cmd
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> tuple[float | None, float | None]:
        """(migrepo/fm, (migrepo-floor)/(fm-floor)); the second is None when fm is within
        NOISE_FRACTION of the floor (the difference would be mostly noise)."""
        f, m, fl = self.fm.median, self.migrepo.median, self.floor.median
        if f is None or m is None:
            return None, None
        ratio = m / f if f > 0 else None
        above = None
        if fl is not None and f - fl > NOISE_FRACTION * fl:
            above = (m - fl) / (f - fl)
        return ratio, above


# --------------------------------------------------------------------------- checks


def check_sqlite_head(
    n: int, expect_tables: int | None, expect_table: str | None = None
) -> Callable[[Cmd], str | None]:
    """After a warm-up upgrade: version table at head; from base: all N - merges tables;
    one pending: the head's table."""
    _, meta = gen.generated(n)

    def check(cmd: Cmd) -> str | None:
        url = cmd.env_extra.get("BENCH_DB_URL", "")
        if not url.startswith("sqlite:///"):
            return None
        try:
            con = sqlite3.connect(url.removeprefix("sqlite:///"))
            try:
                versions = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
                names = {
                    r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            finally:
                con.close()
        except sqlite3.Error as exc:
            return f"cannot read the database after upgrade: {exc}"
        tables = sum(1 for name in names if name.startswith("t_"))
        if versions != [meta["head"]]:
            return f"after upgrade alembic_version={versions}, expected [{meta['head']!r}]"
        if expect_tables is not None and tables != expect_tables:
            return f"after upgrade from base: {tables} t_* tables, expected {expect_tables}"
        if expect_table is not None and expect_table not in names:
            return f"after upgrade: table {expect_table} missing"
        return None

    return check


def check_heads(n: int) -> Callable[[Cmd], str | None]:
    """`heads` / `current` (db at head) must print the head revision id."""
    _, meta = gen.generated(n)

    def check(cmd: Cmd) -> str | None:
        if str(meta["head"]) not in cmd.warm_stdout:
            return f"output does not name head {meta['head']}: {cmd.warm_stdout[:200]!r}"
        return None

    return check


# --------------------------------------------------------------------------- the run


@dataclass
class Setup:
    fm: venvs.Venv
    mig: venvs.Venv
    dbs: Databases
    init_fm: Path
    init_mig: Path | None
    mig_error: str | None
    repeat: int
    timeout: float
    notes: list[str] = field(default_factory=list)


def flask_cmd(venv: venvs.Venv, app: str, *args: str) -> list[str]:
    return [str(venv.flask), "--app", app, *args]


def build_row(s: Setup, case: str, n: int, backend: str) -> Row:
    wd_fm = gen.workdir("fm", n, s.init_fm)
    wd_mig = gen.workdir("migrepo", n, s.init_mig or s.init_fm)
    fm_args = mig_args = ["db", "upgrade"]
    state: str | None = None
    fresh = False
    check: Callable[[Cmd], str | None] | None = None
    if case == "heads":
        fm_args = mig_args = ["db", "heads"]
        check = check_heads(n)
    elif case == "history":
        fm_args = mig_args = ["db", "history"]
    elif case == "history-graph":
        fm_args, mig_args = ["db", "history"], ["db", "history", "--graph"]
    elif case == "current":
        fm_args = mig_args = ["db", "current"]
        state = "head"
        check = check_heads(n)
    elif case == "upgrade-noop":
        state = "head"
        check = check_sqlite_head(n, None)
    elif case == "upgrade-one":
        state, fresh = "pending", True
        check = check_sqlite_head(n, None, f"t_{n - 1}")
    elif case == "upgrade-base":
        fresh = True
        _, meta = gen.generated(n)
        check = check_sqlite_head(n, int(str(meta["tables"])))
    else:
        raise ValueError(case)

    def prep(tool: str, wd: Path) -> Callable[[], dict[str, str]] | None:
        if case in DB_CASES:
            return s.dbs.preparer(backend, n, state, tool, wd, fresh)
        return None

    fm = Cmd("fm", flask_cmd(s.fm, "app_fm", *fm_args), wd_fm, prep("fm", wd_fm), check)
    mig = Cmd(
        "migrepo",
        flask_cmd(s.mig, "app_migrepo", *mig_args),
        wd_mig,
        None,
        check,
        error=s.mig_error,
    )
    if not s.mig_error:
        mig.prepare = prep("migrepo", wd_mig)
    floor = Cmd("floor", flask_cmd(s.fm, "app_none", "--help"), wd_fm)
    return Row(case, backend if case in DB_CASES else "-", str(n), fm, mig, floor)


def run_case(s: Setup, case: str, n: int, backend: str) -> Row:
    try:
        row = build_row(s, case, n, backend)
    except (RuntimeError, OSError) as exc:
        err = f"setup failed: {exc}"
        log(f"  ! {err}")
        dummy = [Cmd(lbl, [], WORK, error=err) for lbl in ("fm", "migrepo", "floor")]
        return Row(case, backend, str(n), *dummy)
    measure([row.fm, row.migrepo, row.floor], s.repeat, s.timeout)
    if case == "heads" and not row.fm.error and not row.migrepo.error:
        if row.fm.warm_stdout != row.migrepo.warm_stdout:
            msg = (
                f"`heads` output differs at N={n}: fm={row.fm.warm_stdout!r} "
                f"migrepo={row.migrepo.warm_stdout!r}"
            )
            log(f"  WARNING: {msg}")
            row.notes.append(msg)
        else:
            log(f"  ok: `heads` output identical ({row.fm.warm_stdout.strip()!r})")
    return row


def run_import(s: Setup) -> tuple[Row, Cmd]:
    """Import time of the app module with and without the extension, in each tool's venv."""
    wd_fm = gen.workdir("fm", 1, s.init_fm)
    wd_mig = gen.workdir("migrepo", 1, s.init_mig or s.init_fm)
    fm = Cmd("fm", [str(s.fm.python), "-c", "import app_fm"], wd_fm)
    mig = Cmd(
        "migrepo", [str(s.mig.python), "-c", "import app_migrepo"], wd_mig, error=s.mig_error
    )
    floor = Cmd("floor", [str(s.fm.python), "-c", "import app_none"], wd_fm)
    mig_none = Cmd("migrepo-none", [str(s.mig.python), "-c", "import app_none"], wd_mig)
    if not s.mig.python.exists() or s.mig_error == SKIPPED:
        mig_none.error = s.mig_error or "no migrepo venv"
    measure([fm, mig, floor, mig_none], s.repeat, s.timeout)
    return Row("import", "-", "-", fm, mig, floor), mig_none


# --------------------------------------------------------------------------- output


def fmt_ms(c: Cmd, errors: list[str]) -> str:
    if c.error:
        msg = f"{c.label}: {c.error}"
        if msg not in errors:
            errors.append(msg)
        return f"ERR[{errors.index(msg) + 1}]"
    m = c.median
    return "-" if m is None else f"{m * 1000:.0f}"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


HEADER = ["case", "db", "N", "fm ms", "migrepo ms", "floor ms", "migrepo/fm", "above floor"]


def table_rows(rows: list[Row], errors: list[str]) -> list[list[str]]:
    out = []
    for r in rows:
        ratio, above = r.ratios()
        out.append(
            [
                r.case,
                r.backend,
                r.n,
                fmt_ms(r.fm, errors),
                fmt_ms(r.migrepo, errors),
                fmt_ms(r.floor, errors),
                fmt_ratio(ratio),
                fmt_ratio(above),
            ]
        )
    return out


def import_rows(imp: tuple[Row, Cmd] | None, errors: list[str]) -> list[list[str]]:
    if imp is None:
        return []
    row, mig_none = imp
    out = []
    for label, with_ext, without in (
        ("fm", row.fm, row.floor),
        ("migrepo", row.migrepo, mig_none),
    ):
        w, wo = with_ext.median, without.median
        ratio = fmt_ratio(w / wo) if w is not None and wo else "-"
        out.append([label, fmt_ms(with_ext, errors), fmt_ms(without, errors), ratio])
    f, m, fl, ml = row.fm.median, row.migrepo.median, row.floor.median, mig_none.median
    if f and m and fl and ml:
        above = fmt_ratio((m - ml) / (f - fl)) if f - fl > NOISE_FRACTION * fl else "-"
        out.append(["migrepo/fm", fmt_ratio(m / f), fmt_ratio(ml / fl), f"{above} (overhead)"])
    return out


IMPORT_HEADER = ["tool", "import app_<tool> ms", "import app_none ms (same venv)", "with/without"]


def plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                x.ljust(w) if i < 3 else x.rjust(w)
                for i, (x, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def markdown(header: list[str], rows: list[list[str]], left: int = 3) -> str:
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def environment(s: Setup) -> str:
    v = s.fm.versions
    pkgs = ", ".join(
        f"{n} {v.get(k, '?')}"
        for n, k in (
            ("Flask", "flask"),
            ("Flask-SQLAlchemy", "flask-sqlalchemy"),
            ("SQLAlchemy", "sqlalchemy"),
            ("Alembic", "alembic"),
            ("Flask-Migrate", "flask-migrate"),
        )
    )
    mig = s.mig.versions.get("migrepo", "not installed")
    cpus = len(__import__("os").sched_getaffinity(0))
    return (
        f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python "
        f"{platform.python_version()}; {pkgs}; migrepo {mig} ({s.mig.key})"
    )


def report(
    s: Setup,
    rows: list[Row],
    imp: tuple[Row, Cmd] | None,
    md: bool,
    started: datetime,
    elapsed: float,
    audit_rows: list[audit.AuditRow] | None = None,
) -> str:
    errors: list[str] = []
    body = table_rows(rows, errors)
    ibody = import_rows(imp, errors)
    abody = audit.table(audit_rows or [], fmt_ms, errors)
    notes = [*s.notes, *(n for r in rows for n in r.notes)]
    notes += [
        f"WARNING {r.case} {r.backend} N={r.n} {c.label}: {w}"
        for r in rows
        for c in (r.fm, r.migrepo)
        for w in c.warnings
    ]
    # A database URL on the command line keeps its user but not its password.
    cmdline = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", shlex.join(["python3", *sys.argv]))
    out: list[str] = []
    if md:
        out.append(f"## {started:%Y-%m-%d %H:%M} UTC\n")
        out.append(f"Command: `{cmdline}`  ")
        out.append(f"Environment: {environment(s)}  ")
        out.append(
            f"{STAT_NAME[0].capitalize()} of {s.repeat} runs in ms, fresh process per "
            f"run; harness wall time {elapsed / 60:.1f} min. floor = `flask --app "
            "app_none --help` (no migration extension); above floor = "
            "(migrepo - floor) / (fm - floor), `-` when fm is within 10% of the "
            "floor.\n"
        )
        if body:
            out.append(markdown(HEADER, body))
        if ibody:
            out.append("\nImport time (`python -c 'import app_x'`):\n")
            out.append(markdown(IMPORT_HEADER, ibody, left=1))
        if abody:
            out.append(
                "\nAudit (migrepo only, git history of N commits; reference: migrepo's "
                "`heads`, the floor and `git log --name-status -- migrations/versions`):\n"
            )
            out.append(markdown(audit.HEADER, abody, left=2))
        if errors or notes:
            out.append("")
        out += [f"- ERR[{i}] {e}" for i, e in enumerate(errors, 1)]
        out += [f"- note: {n}" for n in notes]
    else:
        out.append(f"# {started:%Y-%m-%d %H:%M} UTC  {cmdline}")
        out.append(f"# {environment(s)}")
        out.append(f"# {STAT_NAME[0]} of {s.repeat} runs, ms; wall time {elapsed / 60:.1f} min\n")
        if body:
            out.append(plain(HEADER, body))
        if ibody:
            out.append("")
            out.append(plain(IMPORT_HEADER, ibody))
        if abody:
            out.append("")
            out.append(plain(audit.HEADER, abody))
        if errors or notes:
            out.append("")
        out += [f"ERR[{i}] {e}" for i, e in enumerate(errors, 1)]
        out += [f"note: {n}" for n in notes]
    return "\n".join(out)


def to_json(rows: list[Row], imp: tuple[Row, Cmd] | None) -> dict[str, object]:
    def cmd(c: Cmd) -> dict[str, object]:
        return {
            "argv": c.argv[1:],
            "wall": c.samples,
            "cpu": c.cpu_samples,
            "stat": c.median,
            "error": c.error,
        }

    out: list[dict[str, object]] = []
    for r in rows + ([imp[0]] if imp else []):
        ratio, above = r.ratios()
        out.append(
            {
                "case": r.case,
                "db": r.backend,
                "n": r.n,
                "fm": cmd(r.fm),
                "migrepo": cmd(r.migrepo),
                "floor": cmd(r.floor),
                "ratio": ratio,
                "ratio_above_floor": above,
                "notes": r.notes,
            }
        )
    return {"argv": sys.argv, "rows": out, "import_migrepo_none": cmd(imp[1]) if imp else None}


def parse_cases(text: str) -> list[str]:
    cases: list[str] = []
    for raw in text.split(","):
        name = ALIASES.get(raw.strip(), raw.strip())
        if name == "all":
            cases += ALL_CASES
        elif name in ALL_CASES or name == "audit":
            cases.append(name)
        else:
            raise SystemExit(f"unknown case {raw!r}; known: {', '.join(ALL_CASES)}, audit")
    return list(dict.fromkeys(cases))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark migrepo vs Flask-Migrate 4.1 (see bench/README.md)."
    )
    ap.add_argument(
        "--n",
        default="1,200,1000,5000",
        help="comma-separated revision counts (default: %(default)s)",
    )
    ap.add_argument(
        "--cases",
        default="all",
        help=f"comma-separated: {', '.join(ALL_CASES)} (default: all), or audit (blame, show, "
        "verify and log over a git history; not in all)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per command (default 5)")
    ap.add_argument(
        "--markdown", action="store_true", help="print a Markdown section for bench/RESULTS.md"
    )
    ap.add_argument(
        "--pg-url",
        help="PostgreSQL server URL; DB cases also run there. The "
        "user must be allowed to CREATE/DROP DATABASE (bench_* names)",
    )
    ap.add_argument(
        "--init",
        choices=("own", "fm"),
        default="own",
        help="own: each tool's migrations/ comes from its own `flask db init`; "
        "fm: both use Flask-Migrate's (versions/ identical either way)",
    )
    ap.add_argument(
        "--base-max-n",
        type=int,
        default=1000,
        help="run upgrade-base only for N <= this (default %(default)s)",
    )
    ap.add_argument("--reinstall", action="store_true", help="reinstall migrepo in its venv")
    ap.add_argument(
        "--no-migrepo", action="store_true", help="skip the migrepo side (harness development)"
    )
    ap.add_argument(
        "--stat",
        choices=("median", "min"),
        default="median",
        help="summary statistic of the timed runs (default: median)",
    )
    ap.add_argument(
        "--metric",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter around subprocess.run (default); cpu: the "
        "child's user+sys time, less sensitive to other load on the machine",
    )
    ap.add_argument("--timeout", type=float, default=900, help="per command, seconds")
    ap.add_argument("--json", type=Path, help="also write all samples to this file")
    args = ap.parse_args(argv)
    ns = [int(x) for x in args.n.split(",") if x.strip()]
    if args.stat == "min":
        Cmd.stat = min
        STAT_NAME[0] = "minimum"
    Cmd.metric = args.metric
    STAT_NAME[0] += " wall time" if args.metric == "wall" else " CPU time (user+sys)"
    cases = parse_cases(args.cases)
    started = datetime.now(UTC)
    t_start = time.perf_counter()

    if args.no_migrepo:
        fm = venvs.ensure_fm()
        mig = venvs.Venv("migrepo", venvs.VENVS_DIR / "migrepo", ok=False, error=SKIPPED)
    else:
        fm, mig = venvs.ensure_all(reinstall=args.reinstall)
    mig_error = SKIPPED if args.no_migrepo else (mig.error or None)
    init_fm = gen.init_dir("fm", fm.flask, fm.key)
    init_mig: Path | None = init_fm
    notes: list[str] = []
    if args.init == "own" and not mig_error:
        try:
            init_mig = gen.init_dir("migrepo", mig.flask, mig.key)
        except RuntimeError as exc:
            note = f"{exc}; migrepo uses Flask-Migrate's init directory instead"
            log(f"WARNING: {note}")
            notes.append(note)
            init_mig = init_fm
    init_note = (
        "each tool's own `flask db init`"
        if init_mig != init_fm
        else "Flask-Migrate's `flask db init` for both"
    )
    notes.append(f"migrations/ directories: {init_note}; identical versions/")

    pg = PgAdmin(args.pg_url, fm.python) if args.pg_url else None
    backends = ["sqlite", "pg"] if pg else ["sqlite"]
    s = Setup(
        fm, mig, Databases(fm, pg), init_fm, init_mig, mig_error, args.repeat, args.timeout, notes
    )
    rows: list[Row] = []
    imp: tuple[Row, Cmd] | None = None
    audit_rows: list[audit.AuditRow] = []
    try:
        if "import" in cases:
            log("== import")
            imp = run_import(s)
        for n in ns:
            _, meta = gen.generated(n)
            log(f"== N={n} ({meta['merges']} merges, head {meta['head']})")
            for case in cases:
                if case in ("import", "audit") or (
                    case == "upgrade-base" and n > args.base_max_n
                ):
                    continue
                for backend in backends if case in DB_CASES else ["-"]:
                    log(f"-- {case} {backend} N={n}")
                    row = run_case(s, case, n, backend)
                    rows.append(row)
                    errs: list[str] = []
                    log(
                        "   "
                        + "  ".join(table_rows([row], errs)[0][3:])
                        + ("  " + "; ".join(errs) if errs else "")
                    )
        if "audit" in cases and not mig_error:
            log("== audit")
            audit_rows = audit.run_audit(s, ns, sys.modules[__name__])
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured so far")
    finally:
        if pg:
            pg.cleanup()
    elapsed = time.perf_counter() - t_start
    print(report(s, rows, imp, args.markdown, started, elapsed, audit_rows))
    if args.json:
        args.json.write_text(json.dumps(to_json(rows, imp), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
