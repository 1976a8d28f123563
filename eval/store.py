"""Durable evaluation state in SQLite or PostgreSQL: each item's result the moment it completes, and each
evaluation's MLflow run ids, so an interrupted evaluation resumes where it stopped.

Results are keyed by a system key (what determines them: spec, pool, prompts, dataset) and the
item id, not by evaluation: a larger sample of the same system reuses the items already done.
A failed item (its calls failed and no answer was decided) is never stored as a result: it is
recorded with its reasons and attempts in `failures`, and the next run tries it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from orch.backends.sql import SqlDatabase
from orch.records import ItemResult
from orch.store_urls import sqlite_url

__all__ = ["EvaluationRecord", "ResultStore"]


class EvaluationRecord(BaseModel):
    """One evaluation: what was asked and where it is logged."""

    eval_key: str
    benchmark: str
    sample: str
    seed: int
    systems: list[str]
    experiment: str
    parent_run_id: str | None = None
    system_run_ids: dict[str, str] = {}
    status: str = "running"
    created: float = 0.0


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results (system_key TEXT NOT NULL, item_id TEXT NOT NULL, "
    "result TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, PRIMARY KEY (system_key, item_id))",
    "CREATE TABLE IF NOT EXISTS evaluations (eval_key TEXT PRIMARY KEY, record TEXT NOT NULL, "
    "updated DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS failures (system_key TEXT NOT NULL, item_id TEXT NOT NULL, "
    "reasons TEXT NOT NULL, attempts INTEGER NOT NULL, updated DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (system_key, item_id))",
)


class ResultStore:
    """Results, failures and evaluation records in one database (see `orch.backends.sql`).

    Args:
        location: a SQLite file, or a URL: `sqlite:///path` or `postgresql://…` (the workers of a
            distributed evaluation share one PostgreSQL store).
        setting: the variable that chose it, named when it cannot be opened.
    """

    def __init__(self, location: Path | str, *, setting: str = "ORCH_EVAL_STORE") -> None:
        url = sqlite_url(location) if isinstance(location, Path) else location
        self.url = url
        self._db = SqlDatabase(url, setting=setting, schema=_SCHEMA)

    def load(self, system_key: str, item_ids: Iterable[str]) -> dict[str, ItemResult]:
        """Finished results among `item_ids` for this system."""
        wanted = set(item_ids)
        rows = self._db.execute("SELECT item_id, result FROM results WHERE system_key = ?", (system_key,))
        return {item_id: ItemResult.model_validate_json(text) for item_id, text in rows if item_id in wanted}

    def save(self, system_key: str, result: ItemResult) -> None:
        """Commit one result at once: a crash right after loses nothing already computed. A failed
        item goes to `failures` instead (attempts counted), so it is tried again next time."""
        if result.status == "failed":
            self._db.execute(
                "INSERT INTO failures (system_key, item_id, reasons, attempts, updated) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (system_key, item_id) DO UPDATE SET reasons = excluded.reasons, "
                "attempts = failures.attempts + 1, updated = excluded.updated",
                (system_key, result.item.id, json.dumps(result.failures), time.time()),
            )
            return
        self._db.execute(
            "INSERT INTO results (system_key, item_id, result, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (system_key, item_id) DO UPDATE SET result = excluded.result, created = excluded.created",
            (system_key, result.item.id, result.model_dump_json(), time.time()),
        )
        self._db.execute("DELETE FROM failures WHERE system_key = ? AND item_id = ?", (system_key, result.item.id))

    def failures(self, system_key: str) -> dict[str, tuple[list[str], int]]:
        """Item id → (reasons, attempts) of the items that failed and have not been answered since."""
        rows = self._db.execute("SELECT item_id, reasons, attempts FROM failures WHERE system_key = ?", (system_key,))
        return {item_id: (json.loads(reasons), attempts) for item_id, reasons, attempts in rows}

    def evaluation(self, eval_key: str) -> EvaluationRecord | None:
        rows = self._db.execute("SELECT record FROM evaluations WHERE eval_key = ?", (eval_key,))
        return EvaluationRecord.model_validate_json(rows[0][0]) if rows else None

    def save_evaluation(self, record: EvaluationRecord) -> None:
        self._db.execute(
            "INSERT INTO evaluations (eval_key, record, updated) VALUES (?, ?, ?) "
            "ON CONFLICT (eval_key) DO UPDATE SET record = excluded.record, updated = excluded.updated",
            (record.eval_key, record.model_dump_json(), time.time()),
        )

    def evaluations(self) -> list[EvaluationRecord]:
        rows = self._db.execute("SELECT record FROM evaluations ORDER BY updated DESC")
        return [EvaluationRecord.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        self._db.close()
