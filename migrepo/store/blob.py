"""Content addresses: the git blob hash of a file's bytes."""

from __future__ import annotations

import hashlib
import re

# A git object id: SHA-1, or SHA-256 for repositories that use it.
DIGEST = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def blob_hash(data: bytes) -> str:
    """The git blob hash of ``data``: what ``git hash-object --no-filters`` prints.

    >>> blob_hash(b"hello\\n")
    'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
