"""Two orch processes on one working folder, as a user starts them: a fresh MLflow store is created
once, and the same evaluation started twice runs its items once (the second waits, then joins)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlflow import MlflowClient

from tests.eval_folder import eval_folder


def test_the_same_evaluation_twice_at_once_runs_each_item_once(tmp_path: Path) -> None:
    with eval_folder(tmp_path, items=6, delay_s=0.2) as folder:  # a fresh store: both processes would create it
        server, store = folder.server, folder.store
        both = [
            subprocess.Popen(
                folder.command, cwd=tmp_path, env=folder.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
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
