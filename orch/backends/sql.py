"""One small SQL database for orch's own state: a SQLite file by default, PostgreSQL when several
processes or machines share it (an evaluation spread over workers).

Both speak the same statements here: `?` placeholders (turned into psycopg's `%s`), `ON CONFLICT …
DO UPDATE` upserts, `DOUBLE PRECISION` timestamps. Every statement commits at once (autocommit),
so a crash right after a write loses nothing; one lock serialises the callers of a connection.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orch.errors import ConfigError
from orch.store_urls import check_store_url, redacted

__all__ = ["SqlDatabase"]

_CONNECT_TIMEOUT_S = 5
_PLACEHOLDER = re.compile(r"\?")


class SqlDatabase:
    """A connection to `url` behind a lock. Failures to reach it name `setting` (the variable that chose it).

    Args:
        url: `sqlite:///path` (the folder is created) or `postgresql://…`.
        setting: what to name in the one-line error, e.g. `ORCH_EVAL_STORE`.
        schema: `CREATE TABLE IF NOT EXISTS …` statements, run once on connecting.
    """

    def __init__(self, url: str, *, setting: str, schema: Sequence[str] = ()) -> None:
        if problem := check_store_url(url):
            raise ConfigError("environment", setting, problem)
        self.url = url
        self.setting = setting
        self.dialect = "sqlite" if url.startswith("sqlite:///") else "postgresql"
        self._lock = threading.Lock()
        self._db: Any = self._connect_sqlite() if self.dialect == "sqlite" else self._connect_postgres()
        with self._migrating():
            for statement in schema:
                self.execute(statement)

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        """Two processes creating the same PostgreSQL tables at once collide (a unique violation in
        its catalog), so they take turns; SQLite serialises them itself."""
        if self.dialect == "sqlite":
            yield
            return
        key = zlib.crc32(b"orch-schema")
        # Polled, as the router store's lock is: its setup's CREATE INDEX CONCURRENTLY waits for
        # every open transaction, a blocked pg_advisory_lock call included.
        while not self.execute("SELECT pg_try_advisory_lock(?)", (key,))[0][0]:
            time.sleep(0.02)
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(?)", (key,))

    def _connect_sqlite(self) -> sqlite3.Connection:
        path = Path(self.url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("environment", self.setting, f"{self.url!r}: cannot open the database ({exc})") from exc
        return db

    def _connect_postgres(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError("environment", self.setting, f"{redacted(self.url)!r}: cannot connect ({cause})") from exc

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (SQLite's `?` placeholders) and return its rows, if any."""
        if self.dialect == "postgresql":
            sql = _PLACEHOLDER.sub("%s", sql)
        with self._lock:
            cursor = self._db.execute(sql, tuple(params))
            return list(cursor.fetchall()) if cursor.description is not None else []

    def close(self) -> None:
        with self._lock:
            self._db.close()
