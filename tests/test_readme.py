"""The README's Python section runs as written, against a scripted OpenAI-compatible server on
loopback (the pool comes from `ORCH_CONFIG`, as a user's would), into the real MLflow store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.fake_openai import fake_openai

README = Path(__file__).parent.parent / "README.md"
ANSWERS = {"m-strong": "C", "m-mid": "C", "m-weak": "A"}


def python_section() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python API section has no python code block"
    return "\n".join(blocks)


@pytest.fixture
def remote_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with fake_openai(lambda model, enum: ANSWERS[model] if ANSWERS[model] in enum else enum[0]) as server:
        pool = tmp_path / "pool.yaml"
        agents = "".join(
            f"  - {{id: {a}, model: m-{a}, base_url: '{server['base_url']}'}}\n" for a in ("strong", "mid", "weak")
        )
        pool.write_text(f"agents:\n{agents}roles: {{merger: strong}}\nremote_concurrency: 4\n")
        monkeypatch.setenv("ORCH_CONFIG", str(pool))
        monkeypatch.chdir(tmp_path)
        yield server


def test_readme_python_section_runs(remote_pool, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict = {}
    exec(compile(python_section(), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "name: answer-then-vote" in out and "## Systems" in out
    result, evaluation, asked = namespace["result"], namespace["evaluation"], namespace["asked"]
    assert result.answer == "C" and result.correct  # orch: analyses and direct answers, in agent order
    assert [a.witness for a in result.analyses] == [
        "mid",
        "mid/direct",
        "strong",
        "strong/direct",
        "weak",
        "weak/direct",
    ]
    assert namespace["state"]["decision"]["answer"] == "C"
    frame = evaluation.to_frame()
    assert list(frame["system"]) == ["single:strong", "single:mid", "single:weak", "vote", "answer-then-vote"]
    run = MlflowClient().get_run(asked.run_id)
    assert run.info.status == "FINISHED" and run.data.params["graph"] == "answer-then-vote"
    assert remote_pool["requests"], "the README's calls went over HTTP"
