"""The blob git would store for a file: its content hash under git's own rules.

A work tree checked out with ``core.autocrlf=true`` (or a ``.gitattributes``
``eol``/``text`` rule) holds CRLF copies of files that git stores with LF.
The bytes on disk then hash differently from the blob in git. Git decides
what it would store by its clean filters and end-of-line conversion for the
file's path; ``git hash-object --path=<path>`` applies exactly those, so
migrepo asks git rather than re-implementing its rules.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from migrepo.store.blob import blob_hash


def might_convert(data: bytes) -> bool:
    """Whether git's end-of-line conversion could change ``data`` (it holds a CR)."""
    return b"\r" in data


def stored_hash(path: str | os.PathLike[str], data: bytes) -> str | None:
    """The blob hash git would store for ``data`` at ``path``; None outside a work tree.

    Raises :class:`~migrepo.errors.GitError` when git cannot say.
    """
    from migrepo.audit.gitrepo import open_repo, relative_path, wrap_errors

    repo = open_repo(Path(path).parent)
    if repo is None:
        return None
    with repo:
        relpath = relative_path(repo, path)
        if relpath is None:
            return None
        # The bytes go through a file of their own: they may differ from the file at path.
        handle, scratch = tempfile.mkstemp(prefix="migrepo-", suffix=".py")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            with wrap_errors(f"hash {relpath}"):
                digest: str = repo.git.hash_object(f"--path={relpath}", "--", scratch).strip()
        finally:
            os.unlink(scratch)
    return digest


def as_git_stores(path: str | os.PathLike[str], data: bytes) -> tuple[str, bytes | None]:
    """``data``'s content hash under git's rules, and the bytes that hash to it.

    The bytes are None when git's conversion is not plain CRLF to LF (a
    clean filter, say): the hash is still git's.
    """
    raw = blob_hash(data)
    if not might_convert(data):
        return raw, data
    digest = stored_hash(path, data)
    if digest is None or digest == raw:
        return raw, data
    normalized = data.replace(b"\r\n", b"\n")
    return digest, normalized if blob_hash(normalized) == digest else None
