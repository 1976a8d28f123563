"""A content-addressed cache of chat completions, in SQLite.

The key is the sha256 of what determines a reply: the model's identity (never its port or API
key), the request parameters, the messages and the prompt version. Re-running an evaluation, or
adding a system that shares calls with one already run, costs no model call for what is known;
`replay` refuses any call that is not cached, for bit-identical offline re-runs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orch.errors import OrchError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["CacheStats", "CallCache", "ReplayMiss", "call_key"]


class ReplayMiss(OrchError):
    """A call was not in the cache while replaying. Deliberately not a `BackendError`: nodes record
    backend failures and carry on, but a replay must stop rather than quietly differ."""


def call_key(
    identity: Mapping[str, object], params: Mapping[str, object], messages: Sequence[BaseMessage], prompt_version: str
) -> str:
    payload = {
        "model": dict(identity),
        "params": dict(params),
        "messages": [[m.type, m.content] for m in messages],
        "prompt_version": prompt_version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CacheStats:
    """Hits and misses since the cache was opened (misses are real model calls)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CacheStats(hits={self.hits}, misses={self.misses})"


class CallCache:
    """Completions by key; every write is committed at once, so a crash loses nothing already paid for."""

    def __init__(self, path: Path, *, prompt_version: str, replay: bool = False) -> None:
        """`prompt_version` is part of every key (see `orch.nodes.PROMPT_VERSION`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.prompt_version = prompt_version
        self.replay = replay
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, agent TEXT, completion TEXT NOT NULL, "
            "created REAL NOT NULL)"
        )

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return json.loads(row[0])

    def put(self, key: str, agent: str, completion: Mapping[str, object]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, agent, completion, created) VALUES (?, ?, ?, ?)",
                (key, agent, json.dumps(dict(completion)), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
