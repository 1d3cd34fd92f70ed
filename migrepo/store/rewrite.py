"""Re-parenting a revision file: a new ``down_revision``, every other byte kept.

:func:`reparent` changes exactly two things in a revision file's source: the
string literal of its ``down_revision`` assignment, located by :mod:`ast`
(:func:`migrepo.store.reader.assigned_value`), and the value of the
``Revises:`` line in its docstring, when that line names the old parent. The
rest (comments, quotes, line endings, encoding) is left as it is, and the
result is read back to check that only the parent changed.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from typing import Any

from migrepo.errors import RevisionFileError
from migrepo.store.files import atomic_write
from migrepo.store.reader import assigned_value, parse_source

# Python's own line breaks: what ast counts lines by (str.splitlines knows more).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A "Revises:" line, its value in group 1; lines may end in \n, \r\n or \r.
_REVISES = re.compile(r"(?:^|(?<=\r))Revises:[ \t]*([^\r\n]*?)[ \t]*(?=[\r\n]|\Z)", re.M)
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.\-]+")


def reparent(data: bytes, path: str, old_parent: str, new_parent: str) -> bytes:
    """``data`` (a revision file naming ``old_parent``) with ``new_parent`` as its parent.

    ``down_revision`` must be a plain string literal, or a one-element tuple
    or list of one, naming ``old_parent``; anything else (a name, an
    expression, several parents) raises :class:`RevisionFileError`.

    >>> src = b"revision = 'c3'\\ndown_revision = 'a1'  # parent\\n"
    >>> print(reparent(src, "c3.py", "a1", "b2").decode(), end="")
    revision = 'c3'
    down_revision = 'b2'  # parent
    """
    encoding = _encoding(data)
    text = data.decode(encoding)
    tree = parse_source(path, data)
    value = assigned_value(tree, "down_revision")
    if value is None:
        raise RevisionFileError(
            path, None,
            "no single top-level `down_revision = '...'` assignment to rewrite; "
            "set the parent by hand",
        )
    literal = _parent_literal(value, old_parent)
    if literal is None:
        raise RevisionFileError(
            path, value.lineno,
            f"down_revision is not a plain string literal naming {old_parent}; "
            "set the parent by hand",
        )
    starts = _line_starts(text)
    begin = _offset(text, starts, literal.lineno, literal.col_offset)
    end = _offset(text, starts, literal.end_lineno, literal.end_col_offset)
    edits = [(begin, end, _quoted(new_parent, text[begin:end], old_parent))]
    docstring = _docstring_span(text, starts, tree)
    if docstring is not None:
        match = _REVISES.search(text, *docstring)
        if match is not None and match.group(1) == old_parent:
            edits.append((match.start(1), match.end(1), new_parent))
    for begin, end, replacement in sorted(edits, reverse=True):
        text = text[:begin] + replacement + text[end:]
    result = text.encode(encoding)
    _check(data, result, path, new_parent)
    return result


def replace_source(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace a revision file with ``data`` in one step, so that no stale bytecode runs.

    Python trusts a ``__pycache__`` entry whose recorded source mtime (in
    whole seconds) and size match the file. A re-parented file often has the
    old size (ids of one length), so when the rewrite lands in the same second
    as the old file's mtime, the new mtime is moved one second on.
    """
    before = os.stat(path)
    atomic_write(path, data)
    after = os.stat(path)
    if int(after.st_mtime) <= int(before.st_mtime):
        os.utime(path, ns=(after.st_atime_ns, (int(before.st_mtime) + 1) * 10**9))


def _encoding(data: bytes) -> str:
    """The source encoding Python reads ``data`` with (PEP 263; ``utf-8-sig`` keeps a BOM)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return "utf-8"
    return encoding


def _parent_literal(value: ast.expr, parent: str) -> ast.Constant | None:
    """The string constant naming ``parent``: the value itself or a one-element tuple's."""
    if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == 1:
        value = value.elts[0]
    if isinstance(value, ast.Constant) and value.value == parent:
        return value
    return None


def _line_starts(text: str) -> list[int]:
    """The offset in ``text`` of the start of each line; index 0 is line 1."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def _offset(text: str, starts: list[int], lineno: int | None, col: int | None) -> int:
    """The offset in ``text`` of ast's (line, UTF-8 byte column)."""
    assert lineno is not None and col is not None
    start = starts[lineno - 1]
    end = starts[lineno] if lineno < len(starts) else len(text)
    line = text[start:end].encode("utf-8")
    return start + len(line[:col].decode("utf-8"))


def _docstring_span(text: str, starts: list[int], tree: ast.Module) -> tuple[int, int] | None:
    first = tree.body[0] if tree.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return None
    node = first.value
    return (
        _offset(text, starts, node.lineno, node.col_offset),
        _offset(text, starts, node.end_lineno, node.end_col_offset),
    )


def _quoted(new: str, old_source: str, old: str) -> str:
    """``new`` as a literal in the old literal's quotes, where that is plainly safe."""
    for quote in ('"', "'"):
        if old_source == f"{quote}{old}{quote}" and _PLAIN_ID.fullmatch(new):
            return f"{quote}{new}{quote}"
    return repr(new)


def _check(before: bytes, after: bytes, path: str, new_parent: str) -> None:
    """Read both versions back: only ``down_revision`` may differ, and it names the new parent."""
    old_values, new_values = _values(before, path), _values(after, path)
    parent = new_values.pop("down_revision")
    old_values.pop("down_revision")
    if parent not in (new_parent, (new_parent,), [new_parent]) or old_values != new_values:
        raise RevisionFileError(path, None, "rewriting down_revision changed more than it")


def _values(data: bytes, path: str) -> dict[str, Any]:
    tree = parse_source(path, data)
    values: dict[str, Any] = {}
    for name in ("revision", "down_revision", "branch_labels", "depends_on"):
        node = assigned_value(tree, name)
        values[name] = None if node is None else ast.dump(node, include_attributes=False)
        if name == "down_revision" and node is not None:
            values[name] = ast.literal_eval(node)
    return values
