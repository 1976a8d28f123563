"""Cross-process file locks, for the state several orch processes may share in one folder."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

__all__ = ["file_lock", "sqlite_lock"]


@contextmanager
def file_lock(path: Path, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing); released when the process dies too.

    `on_wait` is called once if another process holds it, before waiting for it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_lock(uri: str) -> AbstractContextManager[None]:
    """A lock beside a local SQLite store (`sqlite:///path`); nothing for a server or another store."""
    if not uri.startswith("sqlite:///"):
        return nullcontext()
    return file_lock(Path(f"{uri.removeprefix('sqlite:///')}.lock"))
