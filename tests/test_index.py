"""The revision index gives exactly what Alembic's own full load gives."""

from __future__ import annotations

import os
import re
import resource
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrepo.engine.scripts import IndexedScriptDirectory, LazyModule
from migrepo.store.index import Index

TEMPLATE = '''"""{doc}"""
from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = {deps!r}


def upgrade():
    pass


def downgrade():
    pass
'''

docs = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='\\"\r'),
    max_size=40,
)


@st.composite
def directories(draw: st.DrawFn) -> list[dict[str, object]]:
    """Revision files forming a DAG: branches, merges, labels, dependencies."""
    count = draw(st.integers(min_value=1, max_value=25))
    revisions: list[dict[str, object]] = []
    for i in range(count):
        rev = f"r{i:03d}"
        earlier = [r["rev"] for r in revisions]
        parents = (
            draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True)) if earlier else []
        )
        down: object = None if not parents else parents[0] if len(parents) == 1 else tuple(parents)
        labels = (f"lbl{i}",) if draw(st.booleans()) and i % 5 == 0 else None
        deps = (
            draw(st.sampled_from(earlier))
            if earlier and draw(st.booleans()) and i % 3 == 0
            else None
        )
        doc = draw(docs)
        revisions.append({"rev": rev, "down": down, "labels": labels, "deps": deps, "doc": doc})
    return revisions


def write(directory: Path, revisions: list[dict[str, object]]) -> Config:
    versions = directory / "versions"
    versions.mkdir(parents=True)
    for r in revisions:
        (versions / f"{r['rev']}_x.py").write_text(TEMPLATE.format(**r), encoding="utf-8")
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


_LABELS = re.compile(r"(Branch names: |-> \w+ \()([^)\n]*)")


def unordered_labels(text: str) -> str:
    """Alembic keeps branch labels in a set and prints them in its iteration order,
    which can differ between two loads of one directory: compare them sorted."""
    return _LABELS.sub(lambda m: m.group(1) + ", ".join(sorted(m.group(2).split(", "))), text)


def describe(script: ScriptDirectory) -> dict[str, object]:
    """Everything Alembic's commands read from a ScriptDirectory."""
    walked = list(script.walk_revisions())
    return {
        "heads": script.get_heads(),
        "bases": script.get_bases(),
        "walk": [sc.revision for sc in walked],
        "scripts": [
            (
                sc.revision,
                sc.down_revision,
                sorted(sc.branch_labels),
                sc.dependencies,
                sc.doc,
                sc.longdoc,
                unordered_labels(sc.log_entry.replace(str(sc.path), "PATH")),
                unordered_labels(
                    sc.cmd_format(
                        False, include_branches=True, include_doc=True, include_parents=True
                    )
                ),
            )
            for sc in walked
        ],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(directories())
def test_index_matches_alembic(revisions: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = write(Path(tmp), revisions)
        try:
            expected = describe(ScriptDirectory.from_config(config))
        except Exception as exc:  # Alembic rejects the graph: so must the index
            with pytest.raises(type(exc)):
                describe(IndexedScriptDirectory.from_config(config))
            return
        first = IndexedScriptDirectory.from_config(config)
        assert describe(first) == expected
        # Nothing was executed to get there.
        assert all(
            isinstance(sc.module, LazyModule) and sc.module.__dict__["_migrepo_module"] is None
            for sc in first.walk_revisions()
        )
        # A second read comes from the index file and agrees too.
        assert describe(IndexedScriptDirectory.from_config(config)) == expected


def test_module_loads_only_when_its_code_runs(tmp_path: Path) -> None:
    config = write(
        tmp_path, [{"rev": "a1", "down": None, "labels": None, "deps": None, "doc": "x"}]
    )
    [script] = IndexedScriptDirectory.from_config(config).walk_revisions()
    assert script.module.__dict__["_migrepo_module"] is None
    assert callable(script.module.upgrade)
    assert script.module.__dict__["_migrepo_module"] is not None


def test_non_literal_identifiers_are_executed(tmp_path: Path) -> None:
    config = write(
        tmp_path, [{"rev": "a1", "down": None, "labels": None, "deps": None, "doc": "x"}]
    )
    (tmp_path / "versions" / "b2_x.py").write_text(
        'REV = "b"\nrevision = REV + "2"\ndown_revision = "a" + "1"\n'
        "def upgrade():\n    pass\ndef downgrade():\n    pass\n"
    )
    expected = describe(ScriptDirectory.from_config(config))
    assert describe(IndexedScriptDirectory.from_config(config)) == expected
    assert expected["heads"] == ["b2"]


def test_a_broken_file_fails_both_loaders(tmp_path: Path) -> None:
    config = write(
        tmp_path, [{"rev": "a1", "down": None, "labels": None, "deps": None, "doc": "x"}]
    )
    (tmp_path / "versions" / "b2_x.py").write_text('revision = "b2"\ndef (:\n')
    with pytest.raises(SyntaxError):
        ScriptDirectory.from_config(config).get_heads()
    with pytest.raises(SyntaxError):
        IndexedScriptDirectory.from_config(config).get_heads()


def test_index_is_rebuilt_when_corrupt_and_follows_edits(tmp_path: Path) -> None:
    config = write(
        tmp_path, [{"rev": "a1", "down": None, "labels": None, "deps": None, "doc": "x"}]
    )
    assert IndexedScriptDirectory.from_config(config).get_heads() == ["a1"]
    index_file = tmp_path / ".migrepo" / "index.json"
    assert index_file.is_file()
    assert (tmp_path / ".migrepo" / ".gitignore").read_text().splitlines()[-1] == "*"

    index_file.write_text("{not json")
    assert IndexedScriptDirectory.from_config(config).get_heads() == ["a1"]

    # Same size, same mtime, new bytes: the stat says unchanged, but a stat
    # this close to the index's own write is not trusted.
    path = tmp_path / "versions" / "a1_x.py"
    stat = path.stat()
    path.write_text(path.read_text().replace("'a1'", "'z9'"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert IndexedScriptDirectory.from_config(config).get_heads() == ["z9"]
    assert Index.load(tmp_path).records  # rewritten, readable


POISONED = '''"""applied long ago"""
revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass


raise RuntimeError("a1 was executed")
'''


def test_commands_run_only_the_modules_they_need(tmp_path: Path) -> None:
    """heads, history, current, status, upgrade --plan and an upgrade of b2 never
    execute a1's module."""
    from tests.apps import project

    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init")
        (proj.migrations / "versions" / "a1_old.py").write_text(POISONED)
        proj.ok("stamp", "a1")
        proj.write_revision("b2", "a1", name="new")
        for args in (
            ["heads"],
            ["history"],
            ["history", "--graph"],
            ["current"],
            ["status"],
            ["upgrade", "--plan"],
            ["upgrade"],
        ):
            proj.ok(*args)
        assert proj.version() == {"b2"}

    with project(
        tmp_path / "plain", f"sqlite:///{tmp_path / 'plain.db'}", config={"MIGREPO_INDEX": False}
    ) as plain:
        plain.migrations.mkdir(parents=True)
        plain.directory = str(proj.migrations)
        result = plain.run("heads")
        assert result.exit_code == 1
        assert "a1 was executed" in result.output


def test_revision_files_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """New revision files are renamed into place; a failed render leaves nothing."""
    from tests.apps import project

    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init")
        mako = proj.migrations / "script.py.mako"
        good = mako.read_text()
        proj.ok("revision", "-m", "fine", "--rev-id", "a1")
        assert (proj.migrations / "versions" / "a1_fine.py").read_text().startswith('"""fine')

        mako.write_text(good + "\n${1 / 0}\n")
        result = proj.run("revision", "-m", "broken", "--rev-id", "b2")
        assert result.exit_code == 1
        leftovers = sorted(p.name for p in (proj.migrations / "versions").iterdir())
        assert leftovers == ["a1_fine.py"]


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make every write past ``limit`` bytes of a file fail, as a full disk would."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.mark.parametrize("command", ["revision", "merge"])
def test_a_revision_file_cut_short_is_removed(tmp_path: Path, command: str) -> None:
    """A write that stops part way (here at a file size limit) leaves no half file."""
    from tests.apps import project

    with project(tmp_path, f"sqlite:///{tmp_path / 'app.db'}") as proj:
        proj.ok("init")
        proj.ok("revision", "-m", "one", "--rev-id", "a1")
        proj.ok("revision", "-m", "two", "--rev-id", "b1", "--head", "a1", "--splice")
        proj.ok("revision", "-m", "three", "--rev-id", "c1", "--head", "a1", "--splice")
        versions = proj.migrations / "versions"
        before = sorted(p.name for p in versions.iterdir())
        mako = proj.migrations / "script.py.mako"
        mako.write_text(mako.read_text() + "\n# " + "x" * 300_000 + "\n")
        args = ["revision", "-m", "big", "--rev-id", "d1", "--head", "b1"]
        if command == "merge":
            args = ["merge", "-m", "big", "--rev-id", "d1", "heads"]
        with file_size_limit(64 * 1024):
            result = proj.run(*args)
        assert result.exit_code == 1, result.output
        assert "File too large" in result.output
        assert sorted(p.name for p in versions.iterdir()) == before
        proj.ok("heads")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(directories(), st.data())
def test_current_revisions_match_alembic(
    revisions: list[dict[str, object]], data: st.DataObject
) -> None:
    """The linear branch-head filter gives Alembic's answer for any set of current ids."""
    ids = [str(r["rev"]) for r in revisions]
    current = tuple(data.draw(st.lists(st.sampled_from(ids), max_size=5, unique=True)))
    with tempfile.TemporaryDirectory() as tmp:
        config = write(Path(tmp), revisions)
        try:
            expected = ScriptDirectory.from_config(config).get_all_current(current)
        except Exception as exc:
            with pytest.raises(type(exc)):
                IndexedScriptDirectory.from_config(config).get_all_current(current)
            return
        got = IndexedScriptDirectory.from_config(config).get_all_current(current)
        assert {sc.revision for sc in got} == {sc.revision for sc in expected}


# --- identifiers the reader must not take at face value (issue 11 item 7) ---------------

# Each shape binds revision and down_revision; some bind them twice or in a way only
# running the file settles. ``{decoy}`` is a parent that must NOT end up in the graph.
SHAPES = {
    "plain": "revision = {rev!r}\ndown_revision = {down!r}\n",
    "tuple": "revision, down_revision = {rev!r}, {down!r}\n",
    "if": (
        "revision = {rev!r}\ndown_revision = {decoy!r}\n"
        "if True:\n    down_revision = {down!r}\n"
    ),
    "else": (
        "revision = {rev!r}\nif False:\n    down_revision = {decoy!r}\n"
        "else:\n    down_revision = {down!r}\n"
    ),
    "repeated": "revision = {rev!r}\ndown_revision = {decoy!r}\ndown_revision = {down!r}\n",
    "augmented": "revision = {rev!r}[:1]\nrevision += {rev!r}[1:]\ndown_revision = {down!r}\n",
    "walrus": "revision = {rev!r}\n(down_revision := {down!r})\n",
    "globals": (
        "revision = {rev!r}\ndown_revision = {decoy!r}\n"
        "globals()['down_revision'] = {down!r}\n"
    ),
    "for": (
        "revision = {rev!r}\ndown_revision = {decoy!r}\n"
        "for down_revision in [{down!r}]:\n    pass\n"
    ),
    "try": (
        "revision = {rev!r}\n"
        "try:\n    down_revision = {down!r}\nexcept ImportError:\n    pass\n"
    ),
    "annotated": "revision: str = {rev!r}\ndown_revision: object = {down!r}\n",
    "local": (
        "revision = {rev!r}\ndown_revision = {down!r}\n"
        "def helper():\n    down_revision = {decoy!r}\n    return down_revision\n"
    ),
}


@st.composite
def tricky_directories(draw: st.DrawFn) -> list[tuple[str, str, object, bool]]:
    """(shape, revision, parents, with the label/dependency lines) for a linear-or-merging DAG."""
    count = draw(st.integers(min_value=1, max_value=8))
    files: list[tuple[str, str, object, bool]] = []
    for i in range(count):
        earlier = [rev for _, rev, _, _ in files]
        parents = (
            draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
        )
        down: object = None if not parents else parents[0] if len(parents) == 1 else tuple(parents)
        shape = draw(st.sampled_from(sorted(SHAPES)))
        files.append((shape, f"t{i:02d}", down, draw(st.booleans())))
    return files


def write_tricky(directory: Path, files: list[tuple[str, str, object, bool]]) -> Config:
    versions = directory / "versions"
    versions.mkdir(parents=True)
    for shape, rev, down, full in files:
        text = f'"""{shape} {rev}"""\n' + SHAPES[shape].format(rev=rev, down=down, decoy="zz9")
        if full:
            text += "branch_labels = None\ndepends_on = None\n"
        text += "\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
        (versions / f"{rev}_x.py").write_text(text, encoding="utf-8")
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_directories())
def test_index_matches_alembic_for_identifiers_bound_in_any_shape(
    files: list[tuple[str, str, object, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = write_tricky(Path(tmp), files)
        expected = describe(ScriptDirectory.from_config(config))
        assert describe(IndexedScriptDirectory.from_config(config)) == expected
        assert describe(IndexedScriptDirectory.from_config(config)) == expected  # from the index


@pytest.mark.parametrize("shape", ["plain", "annotated", "local"])
def test_plain_shapes_are_read_without_running_the_file(tmp_path: Path, shape: str) -> None:
    """Without branch_labels/depends_on lines (older templates), the names are known
    absent from the source alone: nothing runs, not even for Alembic's Script."""
    versions = tmp_path / "versions"
    versions.mkdir()
    text = SHAPES[shape].format(rev="a1", down=None, decoy="zz9")
    (versions / "a1_x.py").write_text(text + "raise RuntimeError('executed')\n")
    config = Config()
    config.set_main_option("script_location", str(tmp_path))
    [script] = IndexedScriptDirectory.from_config(config).walk_revisions()
    assert (script.revision, script.branch_labels, script.dependencies) == ("a1", set(), None)
    assert script.module.__dict__["_migrepo_module"] is None


def test_the_module_runs_the_bytes_that_were_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its bytecode cache is keyed on the bytes: an edit that keeps the file's size and
    mtime (which fools a timestamp .pyc) still runs the new code, and hashes it."""
    import sys

    from migrepo.store.blob import blob_hash

    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    config = write(
        tmp_path, [{"rev": "a1", "down": None, "labels": None, "deps": None, "doc": "x"}]
    )
    path = tmp_path / "versions" / "a1_x.py"
    path.write_text(path.read_text() + "MARK = 'one'\n")
    stat = path.stat()
    [script] = IndexedScriptDirectory.from_config(config).walk_revisions()
    assert script.module.MARK == "one"
    assert list((tmp_path / "versions" / "__pycache__").iterdir())
    path.write_text(path.read_text().replace("'one'", "'two'"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    [script] = IndexedScriptDirectory.from_config(config).walk_revisions()
    assert script.module.MARK == "two"
    assert script.module.migrepo_content() == (blob_hash(path.read_bytes()), path.read_bytes())
