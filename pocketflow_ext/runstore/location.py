"""Where a run store lives: a file path or a PostgreSQL address, and how to show one.

``masked`` is the one function that turns a location into text for people (logs, errors,
the monitor, ``show``): a password in a URL's user part, in its query string or in a
libpq keyword string never reaches them. Nothing here imports a database driver.
"""

from __future__ import annotations

import re
import urllib.parse

_SCHEMES = ("postgresql://", "postgres://")
# libpq keyword/value connection strings ("host=db dbname=runs user=app"): the first
# keyword must be one libpq knows, so a file named "notes=1.db" stays a file.
_KEYWORDS = frozenset(
    "host hostaddr port dbname user password passfile service sslmode sslrootcert "
    "sslcert sslkey application_name options connect_timeout target_session_attrs".split()
)
_FIRST_KEYWORD = re.compile(r"\s*([a-z_]+)\s*=")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
HIDDEN = "***"


def is_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL server (``postgresql://``/``postgres://`` URL
    or a libpq keyword string such as ``"host=db dbname=runs"``), not a file."""
    if location.lower().startswith(_SCHEMES):
        return True
    first = _FIRST_KEYWORD.match(location)
    return first is not None and first.group(1) in _KEYWORDS


def masked(location: str) -> str:
    """``location`` as it may be shown: every password replaced by ``***``.

    >>> masked("postgresql://app:s3cret@db:5432/runs?sslmode=require")
    'postgresql://app:***@db:5432/runs?sslmode=require'
    >>> masked("host=db password='a b' dbname=runs")
    'host=db password=*** dbname=runs'
    """
    text = str(location)
    if text.lower().startswith(_SCHEMES):
        scheme, _, rest = text.partition("://")
        netloc, sep, tail = rest.partition("/") if "/" in rest else (rest, "", "")
        if "?" in netloc:  # "postgresql://host?password=x" has no path
            netloc, query = netloc.split("?", 1)
            tail, sep = f"?{query}{sep}{tail}", ""
        userinfo, at, hostpart = netloc.rpartition("@")
        if at and ":" in userinfo:
            userinfo = f"{userinfo.split(':', 1)[0]}:{HIDDEN}"
        text = f"{scheme}://{userinfo}{at}{hostpart}{sep}{tail}"
        return _QUERY_PASSWORD.sub(rf"\g<1>{HIDDEN}", text)
    if is_url(text):
        return _KEYWORD_PASSWORD.sub(rf"\g<1>{HIDDEN}", text)
    return text


def scrubbed(message: str, location: str) -> str:
    """``message`` (a driver's error text, say) with the password of ``location`` hidden,
    wherever it appears."""
    for secret in _passwords(location):
        if secret:
            message = message.replace(secret, HIDDEN)
    return message


def _passwords(location: str) -> list[str]:
    found: list[str] = []
    if location.lower().startswith(_SCHEMES):
        parts = urllib.parse.urlsplit(location)
        if parts.password:
            found += [parts.password, urllib.parse.unquote(parts.password)]
        query = urllib.parse.parse_qs(parts.query)
        found += query.get("password", [])
    else:
        for match in _KEYWORD_PASSWORD.finditer(location):
            value = match.group(2)
            found += [value, value.strip("'")]
    return sorted(set(found), key=len, reverse=True)
