"""Two orch processes on one working folder, as a user starts them: a fresh MLflow store is created
once, the same evaluation started twice runs its items once (the second waits, then joins), and two
different evaluations started together both finish with all their results."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.eval_folder import EvalFolder, eval_folder, write_quiz


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


def _started_together(folder: EvalFolder, tmp_path: Path, commands: list[list[str]]) -> list[tuple[str, str]]:
    """Start every command at once in the folder; wait for all; (stdout, stderr) of each, all exit 0."""
    procs = [
        subprocess.Popen(command, cwd=tmp_path, env=folder.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for command in commands
    ]
    outputs = [tuple(s.decode() for s in p.communicate(timeout=300)) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err[-2000:] for _, err in outputs]
    return outputs  # type: ignore[return-value]


def _sqlite_rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
        return db.execute(query).fetchall()


ALONE = ("quiz.jsonl", "single:a")
SHARED = ("quiz.jsonl", "single:a,single:b")
"""With `ALONE` at once, the common case (`--systems single:a`, then `--systems single:*`): both
would call a for the same items. The first two calls to a are held until both are in flight, so
without one process at a time per system they race from the first item on (with it, the second call
never comes and the first goes on after the timeout)."""


@pytest.mark.parametrize(
    ("first", "second", "systems", "meet"),
    [
        pytest.param(ALONE, ("other.jsonl", "single:b,cot:b"), 3, ("m-a", "m-b"), id="other-items-other-systems"),
        pytest.param(ALONE, SHARED, 2, ("m-a", "m-a"), id="a-shared-system"),
    ],
)
def test_two_different_evaluations_at_once_both_finish_with_all_their_results(
    tmp_path: Path, first: tuple[str, str], second: tuple[str, str], systems: int, meet: tuple[str, ...]
) -> None:
    """Two evaluations that are not the same (so neither waits for the whole other) started together
    in a fresh folder: both finish, every item is answered once per system (never twice, never lost,
    a system both share included; `systems` counts the distinct ones), nobody sees "database is
    locked", and the stores agree with each other afterwards."""
    items = 6
    runs = len(f"{first[1]},{second[1]}".split(","))  # one MLflow run per system per evaluation
    with eval_folder(tmp_path, items=items, delay_s=0.3, agents=("a", "b"), meet=meet, meet_timeout_s=10) as folder:
        write_quiz(tmp_path / "other.jsonl", items, prefix="R")
        outputs = _started_together(folder, tmp_path, [folder.eval_command(*first), folder.eval_command(*second)])
        requests = list(folder.server["requests"])
    printed = "".join(out + err for out, err in outputs)
    assert "Traceback" not in printed and "database is locked" not in printed.lower(), printed[-4000:]
    assert "another orch process is running this evaluation" not in printed  # different evaluations never wait
    if len(set(meet)) > 1:
        assert folder.met.is_set()  # calls to both models were in flight together: their items ran at once

    # every model call once: each system's items, no call twice
    sent = Counter((body["model"], json.dumps(body["messages"], sort_keys=True)) for body in requests)
    twice = sorted(model for (model, _), n in sent.items() if n > 1)
    assert twice == [], f"{len(twice)} calls made more than once, to {sorted(set(twice))}"
    assert sum(sent.values()) == systems * items

    # the .orch stores: intact, every system's items stored once, no failure, both evaluations finished
    state = tmp_path / "state"
    stored = Counter(key for (key,) in _sqlite_rows(state / "evals.sqlite", "SELECT system_key FROM results"))
    assert sorted(stored.values()) == [items] * systems, stored
    assert _sqlite_rows(state / "evals.sqlite", "SELECT * FROM failures") == []
    records = [json.loads(r) for (r,) in _sqlite_rows(state / "evals.sqlite", "SELECT record FROM evaluations")]
    assert sorted(r["status"] for r in records) == ["finished", "finished"], records
    assert _sqlite_rows(state / "calls.sqlite", "SELECT COUNT(*) FROM calls") == [(systems * items,)]

    # MLflow: two finished parents, each system run finished; each item traced once per system, when answered
    client = MlflowClient(tracking_uri=folder.store)
    experiments = [e.experiment_id for e in client.search_experiments() if e.name.startswith("orch-eval-")]
    parents = client.search_runs(experiments, filter_string="tags.`orch.kind` = 'evaluation'")
    assert len(parents) == 2 and {p.info.status for p in parents} == {"FINISHED"}
    assert {p.info.run_id for p in parents} == {r["parent_run_id"] for r in records}
    system_runs = {run_id for r in records for run_id in r["system_run_ids"].values()}
    assert len(system_runs) == runs
    traced: Counter[str] = Counter()
    for run_id in system_runs:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.params["system_key"] in stored, run.data.params
        assert run.data.metrics.get("traces_missing", 0) == 0
        traces = client.search_traces(locations=experiments, run_id=run_id, max_results=100)
        assert {t.info.state.value for t in traces} <= {"OK"}, run_id
        traced[run.data.params["system_key"]] += len(traces)
    assert traced == {key: items for key in stored}, traced
