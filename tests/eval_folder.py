"""A working folder for running `orch eval` in a subprocess against a slow loopback server: a pool
of one agent, a quiz file, and an environment with a fresh MLflow store and state folder."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fake_openai import fake_openai


@dataclass
class EvalFolder:
    server: dict[str, Any]
    store: str
    env: dict[str, str]
    command: list[str]
    """`python -m orch eval …` over every quiz item with `single:a` (run with `cwd` = the folder)."""


@contextmanager
def eval_folder(tmp_path: Path, items: int, delay_s: float) -> Iterator[EvalFolder]:
    def slow(model: str, enum: list[str]) -> str:
        time.sleep(delay_s)
        return enum[0]

    with fake_openai(slow) as server:
        (tmp_path / "pool.yaml").write_text(f"agents:\n  - {{id: a, model: m-a, base_url: '{server['base_url']}'}}\n")
        rows = [{"question": f"Q{i}?", "options": ["x", "y"], "answer": "A"} for i in range(items)]
        (tmp_path / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        store = f"sqlite:///{tmp_path / 'mlflow.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "ORCH_STATE_DIR": str(tmp_path / "state")}
        env.pop("ORCH_MLFLOW_CONFIG", None)
        args = ["eval", "-b", "quiz.jsonl", "-s", "all", "--systems", "single:a", "--config", "pool.yaml"]
        yield EvalFolder(server, store, env, [sys.executable, "-m", "orch", *args])
