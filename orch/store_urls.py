"""The URLs of orch's own stores (results, call cache, router): `sqlite:///path` or `postgresql://…`.

Checked where they are read (the settings), so a misspelt scheme is one line naming the variable
before anything opens; redacted wherever they are shown, so a password never reaches a log.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["check_store_url", "is_postgres", "redacted", "sqlite_url"]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL with its password hidden: it goes into error lines and MLflow params."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_store_url(url: str) -> str:
    """Why `url` is no store orch can open, or '' when it is one."""
    if (url.startswith("sqlite:///") and len(url) > len("sqlite:///")) or is_postgres(url):
        return ""
    return f"{redacted(url)!r}: use sqlite:///path or postgresql://user@host:port/database"
