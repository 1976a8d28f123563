"""`kill` (SIGTERM) or Ctrl-C mid-evaluation, as a user does it: a closing line, exit 130, the MLflow
runs KILLED, and the same command resumes without repeating finished items."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from mlflow import MlflowClient

from tests.eval_folder import eval_folder


def test_sigterm_mid_evaluation_says_so_and_leaves_the_run_killed(tmp_path: Path) -> None:
    with eval_folder(tmp_path, items=40, delay_s=0.3) as folder:
        server, store, env = folder.server, folder.store, folder.env
        proc = subprocess.Popen(folder.command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(server["requests"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # a second one during clean-up, as `pkill -f` on `uv run` sends
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "orch: interrupted; finished results are kept" in stderr.decode() and "Traceback" not in stderr.decode()
        client = MlflowClient(tracking_uri=store)
        [experiment] = [e for e in client.search_experiments() if e.name.startswith("orch-eval-")]
        statuses = {r.info.status for r in client.search_runs([experiment.experiment_id])}
        assert statuses == {"KILLED"}
        done_before = len(server["requests"])
        resumed = subprocess.run(folder.command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert len(server["requests"]) - done_before <= 40 - (done_before - 1)  # finished items are not asked again
        statuses = {r.info.status for r in client.search_runs([experiment.experiment_id])}
        assert statuses == {"FINISHED"}
