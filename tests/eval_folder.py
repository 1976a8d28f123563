"""A working folder for running `orch eval` in a subprocess against a slow loopback server: a pool
of agents (one by default), a quiz file, and an environment with a fresh MLflow store and state folder."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fake_openai import fake_openai


def write_quiz(path: Path, items: int, prefix: str = "Q") -> Path:
    """`items` two-option questions `<prefix>0?`, `<prefix>1?`, … (gold A) as JSONL."""
    rows = [{"question": f"{prefix}{i}?", "options": ["x", "y"], "answer": "A"} for i in range(items)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@dataclass
class EvalFolder:
    server: dict[str, Any]
    store: str
    env: dict[str, str]
    command: list[str]
    """`python -m orch eval …` over every quiz item with `single:a` (run with `cwd` = the folder)."""
    answered: list[tuple[float, str]] = field(default_factory=list)
    """(monotonic time, model) of every answer the server gave, in order."""
    met: threading.Event = field(default_factory=threading.Event)
    """Set once the calls in `meet` were all in flight together."""

    def eval_command(self, benchmark: str = "quiz.jsonl", systems: str = "single:a") -> list[str]:
        """`python -m orch eval` over every item of `benchmark` with `systems`."""
        args = ["eval", "-b", benchmark, "-s", "all", "--systems", systems, "--config", "pool.yaml"]
        return [sys.executable, "-m", "orch", *args]


@contextmanager
def eval_folder(
    tmp_path: Path,
    items: int,
    delay_s: float,
    agents: Sequence[str] = ("a",),
    *,
    meet: Sequence[str] = (),
    meet_timeout_s: float = 60.0,
) -> Iterator[EvalFolder]:
    """Agent `x` is model `m-x` on one server that answers every call with the first valid letter.

    `meet` lists models, one entry per call: the first calls to them (`("m-a", "m-b")`: the first
    call to each; `("m-a", "m-a")`: the first two calls to m-a) are held until all of them are in
    flight, or `meet_timeout_s` passed. Processes making those calls are then in the middle of their
    items together, however unevenly they started."""
    answered: list[tuple[float, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(meet)) if meet else None
    held = Counter(meet)
    met = threading.Event()

    def slow(model: str, enum: list[str]) -> str:
        with lock:
            holds = held[model] > 0
            held[model] -= holds
        if barrier is not None and holds:
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=meet_timeout_s)
                met.set()
        time.sleep(delay_s)
        with lock:
            answered.append((time.monotonic(), model))
        return enum[0]

    with fake_openai(slow) as server:
        (tmp_path / "pool.yaml").write_text(
            "agents:\n" + "".join(f"  - {{id: {a}, model: m-{a}, base_url: '{server['base_url']}'}}\n" for a in agents)
        )
        write_quiz(tmp_path / "quiz.jsonl", items)
        store = f"sqlite:///{tmp_path / 'mlflow.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "ORCH_STATE_DIR": str(tmp_path / "state")}
        env.pop("ORCH_MLFLOW_CONFIG", None)
        folder = EvalFolder(server, store, env, [], answered, met)
        folder.command = folder.eval_command()
        yield folder
