"""`kill` (SIGTERM) or Ctrl-C mid-evaluation, as a user does it: a closing line, exit 130, the MLflow
runs KILLED, and the same command resumes without repeating finished items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from tests.fake_openai import fake_openai


def test_sigterm_mid_evaluation_says_so_and_leaves_the_run_killed(tmp_path: Path) -> None:
    def slow(model: str, enum: list[str]) -> str:
        time.sleep(0.3)
        return enum[0]

    with fake_openai(slow) as server:
        (tmp_path / "pool.yaml").write_text(f"agents:\n  - {{id: a, model: m-a, base_url: '{server['base_url']}'}}\n")
        rows = [{"question": f"Q{i}?", "options": ["x", "y"], "answer": "A"} for i in range(40)]
        (tmp_path / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        store = f"sqlite:///{tmp_path / 'mlflow.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "ORCH_STATE_DIR": str(tmp_path / "state")}
        env.pop("ORCH_MLFLOW_CONFIG", None)
        args = ["eval", "-b", "quiz.jsonl", "-s", "all", "--systems", "single:a", "--config", "pool.yaml"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "orch", *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while len(server["requests"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "orch: interrupted; finished results are kept" in stderr.decode() and "Traceback" not in stderr.decode()
        client = MlflowClient(tracking_uri=store)
        [experiment] = [e for e in client.search_experiments() if e.name.startswith("orch-eval-")]
        statuses = {r.info.status for r in client.search_runs([experiment.experiment_id])}
        assert statuses == {"KILLED"}
        done_before = len(server["requests"])
        resumed = subprocess.run(
            [sys.executable, "-m", "orch", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert len(server["requests"]) - done_before <= 40 - (done_before - 1)  # finished items are not asked again
        statuses = {r.info.status for r in client.search_runs([experiment.experiment_id])}
        assert statuses == {"FINISHED"}
