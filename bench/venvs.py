"""Create and maintain the two benchmark virtualenvs under ``bench/.venvs/``.

* ``fm``      -- ``Flask-Migrate==4.1.*``, Flask-SQLAlchemy, ``psycopg[binary]``.
* ``migrepo`` -- the working tree of this repository, installed *non-editable*, plus
  ``psycopg[binary]``.  Every package that both venvs share (Flask, Flask-SQLAlchemy,
  SQLAlchemy, Alembic, Werkzeug, click, ...) is pinned to the exact version pip resolved in
  the ``fm`` venv (``pip freeze`` of ``fm`` minus Flask-Migrate, used as a constraints file).

migrepo is reinstalled when ``--reinstall`` is given or when the hash of ``migrepo/``,
``cli/`` and ``pyproject.toml`` differs from the one stamped in the venv.

The source tree is copied to a scratch directory before ``pip install`` so that setuptools'
in-tree build artefacts (``build/``, ``*.egg-info``) never land in the repository.

Stdlib only.  Usable standalone: ``python3 bench/venvs.py [--reinstall]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
WORK_DIR = BENCH_DIR / "work"

FM_REQUIREMENTS = ["Flask-Migrate==4.1.*", "Flask-SQLAlchemy", "psycopg[binary]"]
# The packages whose versions must be identical in both venvs (checked after install).
SHARED_CHECK = ["flask", "flask-sqlalchemy", "sqlalchemy", "alembic"]
STAMP_NAME = ".bench-stamp.json"
# Hashed to decide whether migrepo must be reinstalled.
SOURCE_PARTS = ["migrepo", "cli", "pyproject.toml"]
# Not copied into the scratch build tree.
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venvs",
    "work",
    "__pycache__",
    "*.pyc",
    "build",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)


@dataclass
class Venv:
    name: str
    path: Path
    ok: bool = True
    error: str = ""
    key: str = ""  # identifies what is installed (cache key for `flask db init` output)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def flask(self) -> Path:
        return self.path / "bin" / "flask"


def log(msg: str) -> None:
    print(f"[venvs] {msg}", file=sys.stderr, flush=True)


def clean_env() -> dict[str, str]:
    """Environment for child processes: no stray Python/venv/Flask settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "FLASK_", "PIP_REQUIRE_VIRTUALENV"))
        and k not in ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), check=False)


def _pip_ok(venv: Path, *args: str) -> None:
    proc = _pip(venv, *args)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"pip {' '.join(args)} failed in {venv.name}:\n{tail}")


def _create(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=clean_env())


def _read_stamp(path: Path) -> dict[str, str]:
    try:
        return json.loads((path / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(path: Path, stamp: dict[str, str]) -> None:
    (path / STAMP_NAME).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def freeze(venv: Path) -> dict[str, str]:
    """``{normalized name: version}`` of everything installed in *venv*."""
    proc = _pip(venv, "list", "--format=json")
    if proc.returncode != 0:
        return {}
    return {_norm(p["name"]): p["version"] for p in json.loads(proc.stdout)}


def source_hash(root: Path = REPO_ROOT) -> str:
    h = hashlib.sha256()
    for part in SOURCE_PARTS:
        p = root / part
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if not f.is_file() or "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(root)).encode() + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ensure_fm() -> Venv:
    path = VENVS_DIR / "fm"
    want = {"requirements": " ".join(FM_REQUIREMENTS), "python": sys.version.split()[0]}
    venv = Venv("fm", path)
    if _read_stamp(path) != want or not venv.flask.exists():
        log(f"creating {path} ({' '.join(FM_REQUIREMENTS)})")
        _create(path)
        _pip_ok(path, "install", "-q", *FM_REQUIREMENTS)
        _write_stamp(path, want)
    venv.versions = freeze(path)
    venv.key = "fm" + venv.versions.get("flask-migrate", "?")
    return venv


def constraints_for(fm: Venv) -> str:
    """Constraints text: every package of the fm venv except Flask-Migrate and pip tooling."""
    skip = {"flask-migrate", "pip", "setuptools", "wheel"}
    lines = [f"{n}=={v}" for n, v in sorted(fm.versions.items()) if n not in skip]
    return "\n".join(lines) + "\n"


def _build_tree(dest: Path) -> list[str]:
    """Copy the repo (minus venvs/caches) to *dest*; returns notes about fix-ups made."""
    notes: list[str] = []
    shutil.copytree(REPO_ROOT, dest, ignore=COPY_IGNORE, symlinks=True)
    readme = dest / "README.md"
    if not readme.exists():
        # pyproject.toml declares readme = "README.md"; setuptools refuses to build
        # without it.  A placeholder in the scratch copy does not change any code.
        readme.write_text("migrepo (benchmark build; README.md missing in working tree)\n")
        notes.append("README.md missing in the working tree: placeholder used for the build")
    return notes


def ensure_migrepo(fm: Venv, reinstall: bool = False) -> Venv:
    path = VENVS_DIR / "migrepo"
    venv = Venv("migrepo", path)
    constraints = constraints_for(fm)
    cons_hash = hashlib.sha256(constraints.encode()).hexdigest()[:16]
    src_hash = source_hash()
    stamp = _read_stamp(path)
    base_want = {"constraints": cons_hash, "python": sys.version.split()[0]}

    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    cons_file = VENVS_DIR / "constraints.txt"
    cons_file.write_text(constraints)

    try:
        if {k: stamp.get(k) for k in base_want} != base_want or not venv.python.exists():
            log(f"creating {path} (shared packages pinned to the fm venv)")
            _create(path)
            # Shared packages first, so the floor/import cases work even when migrepo
            # itself does not install.
            _pip_ok(
                path,
                "install",
                "-q",
                "-c",
                str(cons_file),
                "Flask",
                "Flask-SQLAlchemy",
                "SQLAlchemy",
                "alembic",
                "psycopg[binary]",
            )
            stamp = dict(base_want)
            _write_stamp(path, stamp)

        if reinstall or stamp.get("src_hash") != src_hash or stamp.get("install_error"):
            log(f"installing migrepo from {REPO_ROOT} (source hash {src_hash})")
            stamp.pop("src_hash", None)
            stamp.pop("install_error", None)
            try:
                with tempfile.TemporaryDirectory(prefix="migrepo-build-") as tmp:
                    tree = Path(tmp) / "src"
                    for note in _build_tree(tree):
                        log(f"note: {note}")
                    wheels = Path(tmp) / "wheels"
                    _pip_ok(path, "wheel", "-q", "--no-deps", "-w", str(wheels), str(tree))
                    wheel = str(next(wheels.glob("*.whl")))
                    _pip_ok(path, "install", "-q", "--no-deps", "--force-reinstall", wheel)
                    # Now pull in migrepo's own dependencies, shared ones pinned.
                    _pip_ok(path, "install", "-q", "-c", str(cons_file), wheel)
                stamp["src_hash"] = src_hash
            except RuntimeError as exc:
                stamp["install_error"] = str(exc).splitlines()[-1][:300]
                stamp["src_hash_failed"] = src_hash
            _write_stamp(path, stamp)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        venv.ok = False
        venv.error = f"venv setup failed: {str(exc).splitlines()[-1][:300]}"
        log(venv.error)
        return venv

    if stamp.get("install_error"):
        venv.ok = False
        venv.error = f"migrepo install failed: {stamp['install_error']}"
        log(venv.error)
    venv.versions = freeze(path)
    venv.key = "src" + stamp.get("src_hash", "broken")
    for name in SHARED_CHECK:
        a, b = fm.versions.get(name), venv.versions.get(name)
        if a != b:
            log(f"WARNING: {name} differs: fm={a} migrepo={b}")
    return venv


def ensure_all(reinstall: bool = False) -> tuple[Venv, Venv]:
    fm = ensure_fm()
    return fm, ensure_migrepo(fm, reinstall=reinstall)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reinstall", action="store_true", help="reinstall migrepo")
    args = ap.parse_args()
    fm, mig = ensure_all(reinstall=args.reinstall)
    for v in (fm, mig):
        vers = ", ".join(f"{n}=={v.versions.get(n, '?')}" for n in [*SHARED_CHECK, "migrepo"])
        print(f"{v.name:8} {'ok ' if v.ok else 'ERR'} {v.path}  {vers}  {v.error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
