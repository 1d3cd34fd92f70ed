"""Text helpers shared by the command layer and the CLI."""

from __future__ import annotations

import re

_PASSWORD_IN_URL = re.compile(r"(?P<head>[\w+.-]+://[^:/@\s]*:)[^@\s]*@")


def mask_passwords(text: str) -> str:
    """Hide the password of every URL in ``text``.

    >>> mask_passwords("postgresql://app:s3cret@db/app")
    'postgresql://app:***@db/app'
    """
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", text)
