"""`orch serve` when a backend beyond the model calls fails: its tracking server goes down while it
serves. The request gets OpenAI's error shape with 503 within seconds (not an untracked answer, not
a hang), and the server still stops cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.fake_openai import fake_openai
from tests.mlflow_server import mlflow_server
from tests.test_serve import KEY, PARIS, _env, _first_line, answer


def ask(url: str) -> str | None:
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=120)
    return (
        client.chat.completions.create(model="vote", messages=[{"role": "user", "content": PARIS}])
        .choices[0]
        .message.content
    )


def test_a_tracking_server_that_goes_down_is_503_in_openai_shape(tmp_path: Path, mlflow_store: str) -> None:
    with fake_openai(answer) as upstream:
        agents = "".join(
            f"  - {{id: {a}, model: m-{a}, base_url: '{upstream['base_url']}', max_retries: 0}}\n"
            for a in ("strong", "mid", "weak")
        )
        (tmp_path / "pool.yaml").write_text(f"agents:\n{agents}roles: {{merger: strong}}\n")
        with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "mlflow") as tracking:
            # a refused connection is not retried for minutes: the request fails in seconds
            env = _env(tmp_path, mlflow_store, ORCH_SERVE_API_KEY=KEY, MLFLOW_TRACKING_URI=tracking)
            env |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
            command = [sys.executable, "-m", "orch", "serve", "--pool", "pool.yaml", "-g", "vote", "--port", "0"]
            process = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            try:
                url = _first_line(process, timeout=120).split(" at ", 1)[1].split()[0]
                assert ask(url) == "C) Paris"  # tracked on the server
            except BaseException:
                process.kill()
                raise
        try:  # the tracking server is gone
            with pytest.raises(openai.InternalServerError) as caught:
                ask(url)
            assert caught.value.status_code == 503
            error = caught.value.response.json()["error"]
            assert error["code"] == "backend_failed" and error["message"].startswith("vote: ")
            assert "MLflow" in error["message"] or "tracking" in error["message"]
        finally:
            process.terminate()
            out, err = process.communicate(timeout=60)
        assert process.returncode == 0 and out.strip().endswith("orch serve: stopped"), (out, err)
