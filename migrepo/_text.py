"""Text helpers shared by the command layer and the CLI."""

from __future__ import annotations

import re
import unicodedata

# The password runs to the last '@' before the host: "p@ss" in "u:p@ss@host" is masked whole.
_PASSWORD_IN_URL = re.compile(r"(?P<head>[\w+.-]+://[^:/@\s]*:)[^\s/]*@")
# libpq and ODBC style: password=..., PWD=...;
_PASSWORD_SETTING = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s;,&'\"]+)",
    re.IGNORECASE,
)


def mask_passwords(text: str) -> str:
    """Hide the password of every URL and ``password=`` setting in ``text``.

    >>> mask_passwords("postgresql://app:s3cret@db/app")
    'postgresql://app:***@db/app'
    >>> mask_passwords("mysql://app:p@ss@db/app, see admin@example.com")
    'mysql://app:***@db/app, see admin@example.com'
    >>> mask_passwords("host=db user=app password='s3 cret' PWD=x;")
    'host=db user=app password=*** PWD=***;'
    """
    text = _PASSWORD_IN_URL.sub(r"\g<head>***@", text)
    return _PASSWORD_SETTING.sub(r"\g<head>***", text)


def printable(text: str) -> str:
    r"""``text`` safe to print on a terminal, on one line: control characters escaped.

    Values from the database, git or revision files may hold ESC or OSC
    sequences meant to rewrite the terminal; they come out as visible escapes.

    >>> printable("ok")
    'ok'
    >>> printable("x\x1b]0;pwned\x07\ny")
    'x\\x1b]0;pwned\\x07\\ny'
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


# --- revision messages -------------------------------------------------------

_TRIPLE_QUOTES = {'"""': '""\\"', "'''": "''\\'"}


def docstring_text(message: str) -> str:
    r"""``message`` escaped for the inside of a revision file's docstring.

    Backslashes, triple quotes and control characters other than newline and
    tab are escaped, so the file is valid Python and its ``__doc__`` is
    ``message`` again. A message with none of them comes back unchanged.

    >>> print(docstring_text('say ' + '"' * 3 + 'hi' + '"' * 3 + r' \n done' + '\r'))
    say ""\"hi""\" \\n done\r
    >>> docstring_text("add user table, ñ")
    'add user table, ñ'
    """
    text = message.replace("\\", "\\\\")
    for quotes, escaped in _TRIPLE_QUOTES.items():
        text = text.replace(quotes, escaped)
    return "".join(_escape_control(ch) for ch in text)


def _escape_control(ch: str) -> str:
    if ch in "\n\t" or not (ord(ch) < 32 or ord(ch) == 127):
        return ch
    return {"\r": "\\r", "\f": "\\f", "\v": "\\v"}.get(ch, f"\\x{ord(ch):02x}")


def slug(message: str | None, length: int = 40, *, ascii_only: bool = True) -> str:
    """The file-name slug of a revision message, made as Alembic makes it.

    Alembic joins the message's ``\\w+`` words with ``_``, lower-cased, and
    cuts the result at a word boundary after ``length`` characters. With
    ``ascii_only`` (migrepo's rule), accents are dropped first (ñ becomes n)
    and any other non-ASCII character is left out, so file names stay
    portable; ``ascii_only=False`` gives Alembic's own slug.

    >>> slug("Add ñandú table: café & crème brûlée")
    'add_nandu_table_cafe_creme_brulee'
    >>> slug("Add ñandú table", ascii_only=False)
    'add_ñandú_table'
    >>> slug("one two three", length=8)
    'one_two_'
    """
    text = message or ""
    if ascii_only:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = "_".join(re.findall(r"\w+", text)).lower()
    if len(words) > length:
        words = words[:length].rsplit("_", 1)[0] + "_"
    return words
