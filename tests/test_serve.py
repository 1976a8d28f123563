"""`orch serve` as users run it: a real server process on loopback, its agents on a scripted
OpenAI-compatible server, called with the `openai` client; each answer is an MLflow run in the
real store."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mlflow import MlflowClient

from tests.fake_openai import fake_openai

REPO = Path(__file__).parents[1]
KEY = "test-serve-key"
ANSWERS = {"m-strong": "C", "m-mid": "C", "m-weak": "A"}
PARIS = "What is the capital of France?\nA) Berlin\nB) Madrid\nC) Paris\nD) Rome"


def answer(model: str, enum: list[str]) -> str:
    if model == "m-broken":
        raise ConnectionAbortedError("this model is down")  # the connection drops: a failed call
    return ANSWERS[model] if ANSWERS[model] in enum else enum[0]


@dataclass(frozen=True)
class Served:
    url: str
    upstream: dict[str, Any]

    def client(self, key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0)


def _env(folder: Path, mlflow_store: str, **extra: str) -> dict[str, str]:
    strict = folder / "mlflow-strict.yaml"
    strict.write_text("strict: true\n")
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_CONFIG", "ORCH_SERVE_API_KEY")}
    return {
        **env,
        "MLFLOW_TRACKING_URI": mlflow_store,
        "ORCH_MLFLOW_CONFIG": str(strict),
        "ORCH_STATE_DIR": str(folder / "state"),
        **extra,
    }


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline() if process.stdout else ""))
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0]:
        process.kill()
        raise AssertionError(f"orch serve did not start: {process.communicate()[1][-2000:]}")
    return lines[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mlflow_store: str) -> Iterator[Served]:
    """One server for the module: graphs orch, vote and broken (its one agent's calls all fail)."""
    folder = tmp_path_factory.mktemp("serve")
    with fake_openai(answer) as upstream:
        agents = "".join(
            f"  - {{id: {a}, model: m-{a}, base_url: '{upstream['base_url']}', max_retries: 0}}\n"
            for a in ("strong", "mid", "weak", "broken")
        )
        (folder / "pool.yaml").write_text(
            f"agents:\n{agents}panel: [strong, mid, weak]\nroles: {{merger: strong}}\nremote_concurrency: 4\n"
        )
        (folder / "broken.yaml").write_text(
            "name: broken\nnodes:\n  answer: {type: direct, config: {agent: broken}}\n"
            "edges: [[START, answer], [answer, END]]\n"
        )
        graphs = ["-g", "orch", "-g", "vote", "-g", "broken.yaml"]
        process = subprocess.Popen(
            [sys.executable, "-m", "orch", "serve", "--pool", "pool.yaml", *graphs, "--port", "0"],
            cwd=folder,
            env=_env(folder, mlflow_store, ORCH_SERVE_API_KEY=KEY),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = _first_line(process, timeout=120)
            found = re.search(r" at (http://127\.0\.0\.1:\d+/v1) ", line)
            assert found and line.startswith("orch serve: orch, vote, broken at "), line
            yield Served(found.group(1), upstream)
        finally:
            process.terminate()  # SIGTERM stops it as Ctrl-C does: requests in flight finish, agents stop
            out, err = process.communicate(timeout=60)
        assert process.returncode == 0 and out.strip().endswith("orch serve: stopped"), (out, err)


def test_the_openai_client_gets_the_answer_with_analyses_decision_and_usage(served: Served) -> None:
    before = len(served.upstream["requests"])
    reply = served.client().chat.completions.create(model="orch", messages=[{"role": "user", "content": PARIS}])
    assert reply.model == "orch" and reply.object == "chat.completion"
    assert reply.choices[0].message.content == "C) Paris" and reply.choices[0].finish_reason == "stop"
    extension = reply.model_extra["orch"]
    calls = len(served.upstream["requests"]) - before
    # three analyses, three direct answers, and the merge (the test pool is not in orch's profile: no
    # witness has a weight, so the panel is tied and the merger decides), over HTTP
    assert calls == 7 and extension["usage"]["calls"] == 7
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (50 * calls, 10 * calls)  # the fake's usage
    assert reply.usage.total_tokens == 60 * calls
    assert extension["answer"] == "C" and extension["status"] == "ok" and extension["item_id"].startswith("ask/")
    analyses = [a for a in extension["analyses"] if a["kind"] == "analysis"]
    assert [(a["agent"], a["answer"]) for a in analyses] == [("mid", "C"), ("strong", "C"), ("weak", "A")]
    assert extension["decision"]["answer"] == "C" and extension["decision"]["agent"] == "strong"
    run = MlflowClient().get_run(extension["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["graph"] == "orch"
    assert run.data.params["item_id"] == extension["item_id"] and run.data.tags["orch.command"] == "serve"
    assert MlflowClient().get_experiment(run.info.experiment_id).name == "orch-serve"
    assert run.data.metrics["input_tokens_per_item"] == 50 * calls
    assert {a.path for a in MlflowClient().list_artifacts(run.info.run_id)} >= {"results.jsonl", "summary.json"}
    traces = MlflowClient().search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert len(traces) == 1 and traces[0].info.state.value == "OK"


def test_a_structured_question_and_another_graph(served: Served) -> None:
    question = {"question": "What is the capital of France?", "options": ["Berlin", "Madrid", "Paris", "Rome"]}
    reply = served.client().chat.completions.create(
        model="vote", messages=[], extra_body={"orch": question}, temperature=0.7
    )
    assert reply.model == "vote" and reply.choices[0].message.content == "C) Paris"
    extension = reply.model_extra["orch"]
    assert extension["decision"]["method"] == "vote" and extension["ignored"] == ["temperature"]
    asked = served.client().chat.completions.create(model="orch", messages=[{"role": "user", "content": PARIS}])
    assert asked.model_extra["orch"]["item_id"] == extension["item_id"]  # the same question, the same item id


def test_requests_run_concurrently_each_its_own_run(served: Served) -> None:
    client = served.client()

    def ask(n: int) -> Any:
        content = PARIS.replace("France?", f"France? ({n})")
        return client.chat.completions.create(model="vote", messages=[{"role": "user", "content": content}])

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, range(8)))
    assert {r.choices[0].message.content for r in replies} == {"C) Paris"}
    assert len({r.model_extra["orch"]["run_id"] for r in replies}) == 8


def test_models_lists_the_served_graphs(served: Served) -> None:
    client = served.client()
    assert [m.id for m in client.models.list()] == ["orch", "vote", "broken"]
    assert client.models.retrieve("vote").owned_by == "orch"


def test_an_unknown_model_is_404_in_openai_shape(served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        served.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PARIS}])
    assert caught.value.body == {
        "message": "The model 'gpt-4o' does not exist: this server answers with ['broken', 'orch', 'vote']",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("request_fields", "param", "message"),
    [
        ({"messages": [{"role": "user", "content": "What is 2 + 2?"}]}, "messages", "has no options"),
        ({"messages": [{"role": "system", "content": PARIS}]}, "messages", "no user message"),
        ({"messages": [{"role": "user", "content": "A) one\nB) two"}]}, "messages", "question text is empty"),
        ({"messages": [], "extra_body": {"orch": {"question": "q?", "options": ["only"]}}}, "orch", "2 to 10 options"),
        ({"messages": [], "extra_body": {"orch": {"question": "q?", "choices": []}}}, "orch.choices", "Extra inputs"),
        ({"messages": [{"role": "user", "content": PARIS}], "stream": True}, "stream", "streaming is not supported"),
        ({"messages": [{"role": "user", "content": PARIS}], "n": 2}, "n", "Input should be 1"),
    ],
)
def test_a_request_orch_cannot_read_is_400_naming_the_field(
    served: Served, request_fields: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().chat.completions.create(model="orch", **request_fields)
    error = caught.value.body
    assert error["type"] == "invalid_request_error" and error["param"] == param and message in error["message"]
    assert error["message"].startswith(f"{param}: ")


def test_a_missing_or_wrong_key_is_401(served: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        served.client("wrong").models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    bare = httpx.post(f"{served.url}/chat/completions", json={"model": "orch", "messages": []})
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"


def test_a_failed_item_is_502_with_its_reasons_never_an_answer(served: Served) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        served.client().chat.completions.create(model="broken", messages=[{"role": "user", "content": PARIS}])
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    assert (
        body["error"]["code"] == "item_failed"
        and "broken: the item failed, no answer: broken:" in body["error"]["message"]
    )
    assert body["orch"]["answer"] is None and body["orch"]["status"] == "failed"
    assert MlflowClient().get_run(body["orch"]["run_id"]).info.status == "FAILED"


def test_an_unknown_path_is_404_in_openai_shape(served: Served) -> None:
    reply = httpx.get(f"{served.url}/embeddings", headers={"Authorization": f"Bearer {KEY}"})
    assert reply.status_code == 404 and reply.json()["error"]["message"].startswith("GET /v1/embeddings")


def _orch(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orch", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60, check=False
    )


def test_off_loopback_without_a_key_refuses_to_start(tmp_path: Path, mlflow_store: str) -> None:
    done = _orch("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path, env=_env(tmp_path, mlflow_store))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "orch: error: --host 0.0.0.0 is reachable from other machines: set an API key for the server "
        "(--api-key KEY or ORCH_SERVE_API_KEY); clients send it as `Authorization: Bearer KEY`"
    ]


def test_a_taken_port_is_one_line(tmp_path: Path, mlflow_store: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = _orch("serve", "--port", port, cwd=tmp_path, env=_env(tmp_path, mlflow_store))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"orch: error: --host 127.0.0.1 --port {port}: cannot listen there: Address already in use"
    ]


@pytest.mark.parametrize(
    "content",
    [
        PARIS,
        "What is the capital of France?\nA. Berlin\nB. Madrid\nC. Paris\nD. Rome\n\nAnswer with the letter.",
        "What is the capital of France?\n\n(A) Berlin\n\n(B) Madrid\n(C) Paris\n(D) Rome",
        [{"type": "text", "text": "What is the capital of France?"}, {"type": "text", "text": "A: Berlin\nB: Madrid"}],
    ],
    ids=["paren", "dot-then-instructions", "parenthesised-with-blank-lines", "content-parts"],
)
def test_option_lines_in_the_last_user_message(content: Any) -> None:
    from orch.serve.protocol import item_of, read_request

    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "an earlier question\nA) x\nB) y"},
        {"role": "assistant", "content": "A) x"},
        {"role": "user", "content": content},
    ]
    item = item_of(read_request({"model": "orch", "messages": messages}))
    assert item.question == "What is the capital of France?"
    assert item.options == (("Berlin", "Madrid", "Paris", "Rome") if isinstance(content, str) else ("Berlin", "Madrid"))


def test_the_readme_client_snippet_runs(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Serving: graphs as OpenAI-compatible models", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert 'base_url="http://127.0.0.1:8080/v1", api_key="any-text-on-loopback"' in snippet
    snippet = snippet.replace("http://127.0.0.1:8080/v1", served.url).replace("any-text-on-loopback", KEY)
    exec(compile(snippet, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "['orch', 'vote', 'broken']" and lines[1] == "C) Carbon dioxide"
    assert lines[2] == "420" and lines[3].startswith(
        "merge [('mid', 'C'), ('strong', 'C'), ('weak', 'A')] "
    )  # 7 calls × 60 tokens (the fake's usage)
    assert lines[4] == "C) Carbon dioxide True"


def _pool_file(folder: Path, base_url: str) -> Path:
    agents = "".join(f"  - {{id: {a}, model: m-{a}, base_url: '{base_url}'}}\n" for a in ("strong", "mid", "weak"))
    path = folder / "pool.yaml"
    path.write_text(f"agents:\n{agents}roles: {{merger: strong}}\n")
    return path


def _serve_runs() -> int:
    experiment = MlflowClient().get_experiment_by_name("orch-serve")
    return len(MlflowClient().search_runs([experiment.experiment_id])) if experiment else 0


def test_answering_in_python_without_tracking(tmp_path: Path) -> None:
    import asyncio

    import orch

    runs_before = _serve_runs()
    with (
        fake_openai(answer) as upstream,
        orch.answering(["orch", "vote"], pool=_pool_file(tmp_path, upstream["base_url"]), track=False) as served,
    ):

        async def both() -> list[Any]:
            item = orch.make_item("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"])
            return await asyncio.gather(served["orch"].answer(item), served["vote"].answer(item))

        answers = asyncio.run(both())
    assert [(a.result.graph, a.result.answer, a.run_id) for a in answers] == [("orch", "C", None), ("vote", "C", None)]
    assert _serve_runs() == runs_before


def test_a_routed_graph_goes_on_after_a_request_that_was_cancelled(tmp_path: Path) -> None:
    """Routing is prequential in arrival order: request i waits for those before it to be reported,
    so one cut off mid-flight (a client that gave up) must not hold up the next."""
    import asyncio

    import orch

    def slow(model: str, enum: list[str]) -> str:
        time.sleep(0.3)
        return answer(model, enum)

    with (
        fake_openai(slow) as upstream,
        orch.answering("orch-ema", pool=_pool_file(tmp_path, upstream["base_url"]), track=False) as served,
    ):

        async def cut_then_ask() -> Any:
            first = orch.make_item("First?", ["x", "y", "z"])
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(served["orch-ema"].answer(first), 0.1)
            second = orch.make_item("Second?", ["x", "y", "z"])
            return await asyncio.wait_for(served["orch-ema"].answer(second), 30)

        later = asyncio.run(cut_then_ask())
    assert later.result.status == "ok" and later.result.routing is not None


def test_a_body_too_large_or_not_json_is_refused(served: Served) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    big = httpx.post(f"{served.url}/chat/completions", content=b"x" * 1_000_001, headers=headers)
    assert big.status_code == 413 and "larger than 1,000,000 bytes" in big.json()["error"]["message"]
    broken = httpx.post(f"{served.url}/chat/completions", content=b"{not json", headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["message"].startswith("the request body is not JSON")
