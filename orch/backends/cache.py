"""A content-addressed cache of chat completions, in SQLite or PostgreSQL.

The key is the sha256 of what determines a reply: the model's identity (never its port or API
key), the request parameters, the messages and the prompt version. Re-running an evaluation, or
adding a system that shares calls with one already run, costs no model call for what is known;
`replay` refuses any call that is not cached, for bit-identical offline re-runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orch.backends.sql import SqlDatabase
from orch.errors import OrchError
from orch.store_urls import sqlite_url

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


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, agent TEXT, completion TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL)"
)


class CacheStats:
    """Hits and misses since the cache was opened (misses are real model calls)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CacheStats(hits={self.hits}, misses={self.misses})"


class CallCache:
    """Completions by key; every write is committed at once, so a crash loses nothing already paid for.

    Args:
        location: a SQLite file, or a URL: `sqlite:///path` or `postgresql://…` (the workers of a
            distributed evaluation share one PostgreSQL cache).
        prompt_version: part of every key (see `orch.nodes.PROMPT_VERSION`).
        replay: refuse any call that is not cached (`ReplayMiss`).
        setting: the variable that chose `location`, named when it cannot be opened.
    """

    def __init__(
        self, location: Path | str, *, prompt_version: str, replay: bool = False, setting: str = "ORCH_CALL_CACHE"
    ) -> None:
        self.url = sqlite_url(location) if isinstance(location, Path) else location
        self.prompt_version = prompt_version
        self.replay = replay
        self.stats = CacheStats()
        self._db = SqlDatabase(self.url, setting=setting, schema=(_SCHEMA,))

    def get(self, key: str) -> dict | None:
        rows = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,))
        if not rows:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return json.loads(rows[0][0])

    def put(self, key: str, agent: str, completion: Mapping[str, object]) -> None:
        self._db.execute(
            "INSERT INTO calls (key, agent, completion, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET agent = excluded.agent, completion = excluded.completion, "
            "created = excluded.created",
            (key, agent, json.dumps(dict(completion)), time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM calls")[0][0])

    def close(self) -> None:
        self._db.close()
