"""Two orch processes on one working folder, as a user starts them: a fresh MLflow store is created
once, and the same evaluation started twice runs its items once (the second waits, then joins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from tests.fake_openai import fake_openai


def test_the_same_evaluation_twice_at_once_runs_each_item_once(tmp_path: Path) -> None:
    def slow(model: str, enum: list[str]) -> str:
        time.sleep(0.2)
        return enum[0]

    with fake_openai(slow) as server:
        (tmp_path / "pool.yaml").write_text(f"agents:\n  - {{id: a, model: m-a, base_url: '{server['base_url']}'}}\n")
        rows = [{"question": f"Q{i}?", "options": ["x", "y"], "answer": "A"} for i in range(6)]
        (tmp_path / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # fresh: both processes would create it
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "ORCH_STATE_DIR": str(tmp_path / "state")}
        env.pop("ORCH_MLFLOW_CONFIG", None)
        args = [sys.executable, "-m", "orch", "eval", "-b", "quiz.jsonl", "-s", "all", "--systems", "single:a"]
        both = [
            subprocess.Popen(
                [*args, "--config", "pool.yaml"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=300) for p in both]
        assert [p.returncode for p in both] == [0, 0], [err.decode()[-1500:] for _, err in outputs]
        assert "Traceback" not in "".join(err.decode() for _, err in outputs)
        assert len(server["requests"]) == 6  # one evaluation's calls, not two
        assert sum("another orch process is running this evaluation" in out.decode() for out, _ in outputs) == 1
        client = MlflowClient(tracking_uri=store)
        [experiment] = [e for e in client.search_experiments() if e.name.startswith("orch-eval-")]
        parents = client.search_runs([experiment.experiment_id], filter_string="tags.`orch.kind` = 'evaluation'")
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
