"""`langgraph dev` serves the graphs in `langgraph.json`: a real server process on 127.0.0.1, its pool
(`ORCH_CONFIG`) on a scripted OpenAI-compatible server on loopback, answering over HTTP. One server
per module: its start-up dominates the time."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from orch.graphs import builtin_graphs
from orch.routers.state import RouterState
from orch.routers.store import RouterVersion
from tests.fake_openai import fake_openai

ROOT = Path(__file__).parent.parent
AGENTS = ("strong", "mid", "weak")
ANSWERS = {"m-strong": "C", "m-mid": "C", "m-weak": "A"}
ITEM = {"question": "Which gas do plants absorb?", "options": ["Oxygen", "Nitrogen", "Carbon dioxide", "Helium"]}
USER_SPEC = """name: answer-then-vote
nodes:
  answer: {type: direct, fan_out: panel}
  vote: {type: vote}
edges: [[START, answer], [answer, vote], [vote, END]]
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"langgraph dev exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"langgraph dev did not answer /ok in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The repository's `langgraph.json` plus one user spec (the README's recipe), served from a
    folder of its own (the server keeps its threads and store under `.langgraph_api/` there)."""
    folder = tmp_path_factory.mktemp("langgraph")
    with fake_openai(lambda model, enum: ANSWERS[model] if ANSWERS[model] in enum else enum[0]) as openai:
        agents = "".join(f"  - {{id: {a}, model: m-{a}, base_url: '{openai['base_url']}'}}\n" for a in AGENTS)
        pool = folder / "pool.yaml"
        pool.write_text(f"agents:\n{agents}roles: {{merger: strong}}\nremote_concurrency: 4\n")
        (folder / "my-graph.yaml").write_text(USER_SPEC)
        (folder / "my_graph.py").write_text(
            'from orch.serve.langgraph_app import served\n\ngraph = served("my-graph.yaml")\n'
        )
        config = json.loads((ROOT / "langgraph.json").read_text())
        config["graphs"]["my-graph"] = "./my_graph.py:graph"
        (folder / "langgraph.json").write_text(json.dumps(config))
        port = _free_port()
        env = {
            **os.environ,
            "ORCH_CONFIG": str(pool),
            "ORCH_STATE_DIR": str(folder / "state"),
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # no usage report, no version check: no network
            "LANGGRAPH_NO_VERSION_CHECK": "true",
        }
        command = [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        log = folder / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, log)
            yield {"url": url, "requests": openai["requests"], "log": log}
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answer(server: dict[str, Any], graph: str, item: dict[str, Any], **run: Any) -> tuple[str, dict[str, Any]]:
    """One item on a new thread through `/threads` and `/threads/{id}/runs/wait`, as curl would."""
    with httpx.Client(base_url=server["url"], timeout=60) as http:
        thread = http.post("/threads", json={}).raise_for_status().json()["thread_id"]
        reply = http.post(f"/threads/{thread}/runs/wait", json={"assistant_id": graph, "input": item, **run})
        return thread, reply.raise_for_status().json()


def test_langgraph_json_registers_every_shipped_graph(server: dict[str, Any]) -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert set(config["graphs"]) == set(builtin_graphs())
    client = get_sync_client(url=server["url"])
    assistants = {a["graph_id"]: a["assistant_id"] for a in client.assistants.search(limit=100)}
    assert set(assistants) == {*builtin_graphs(), "my-graph"}
    schemas = client.assistants.get_schemas(assistants["orch"])
    assert schemas["input_schema"]["required"] == ["question"]
    assert {"answer", "decision", "analyses", "correct", "status"} <= set(schemas["output_schema"]["properties"])


def test_an_item_is_answered_through_threads_and_runs_wait(server: dict[str, Any]) -> None:
    _, out = _answer(server, "orch", {**ITEM, "answer": "C"})
    assert (out["answer"], out["correct"], out["status"], out["failures"]) == ("C", True, "ok", [])
    assert out["decision"]["method"] == "merge" and out["decision"]["agent"] == "strong"
    analyses = [(a["agent"], a["answer"]) for a in out["analyses"] if a["kind"] == "analysis"]
    assert analyses == [("mid", "C"), ("strong", "C"), ("weak", "A")]
    # three analyses, three direct answers, the merge (no witness of the test pool has a weight in orch's profile)
    assert out["usage"]["calls"] == 7 and out["item"]["id"].startswith("ask/")


def test_a_human_reviews_the_analyses_before_the_merge(server: dict[str, Any]) -> None:
    calls = len(server["requests"])
    thread, paused = _answer(server, "orch", ITEM, interrupt_before=["merge"])
    assert len(server["requests"]) - calls == 6, "the analysts ran, the merger did not"
    assert paused["answer"] is None and len(paused["analyses"]) == 6
    client = get_sync_client(url=server["url"])
    assert client.threads.get_state(thread)["next"] == ["merge"]
    done = client.runs.wait(thread, "orch", input=None)
    assert done["answer"] == "C" and done["decision"]["node"] == "merge" and len(server["requests"]) - calls == 7
    steps = [s["next"] for s in client.threads.get_history(thread, limit=20)]
    assert ["merge"] in steps and ["outcome"] in steps


def test_a_routed_graph_keeps_its_router_in_the_servers_store(server: dict[str, Any]) -> None:
    _, first = _answer(server, "orch-ema", {**ITEM, "answer": "C", "id": "q1"})
    _, second = _answer(server, "orch-ema", {**ITEM, "answer": "C", "id": "q2"})
    assert (first["routing"]["state_version"], second["routing"]["state_version"]) == (0, 1)
    current = get_sync_client(url=server["url"]).store.get_item(("orch", "router", "orch-ema"), "current")
    assert current["value"]["version"] == 2
    _, named = _answer(server, "orch-ema", {**ITEM, "id": "q3"}, context={"router": "team-a"})
    assert named["routing"]["router_id"] == "team-a" and named["routing"]["state_version"] == 0


def test_a_stored_router_built_under_another_policy_is_refused(server: dict[str, Any]) -> None:
    stale = RouterState(policy_hash="another", version=1)
    hashes = {"state_hash": stale.state_hash, "policy_hash": "another"}
    record = RouterVersion(router_id="stale", version=1, reason="", created=0, state=stale, **hashes)
    store = get_sync_client(url=server["url"]).store
    store.put_item(("orch", "router", "stale", "versions"), "000000001", record.model_dump(mode="json"))
    store.put_item(("orch", "router", "stale"), "current", {"version": 1, "state_hash": stale.state_hash})
    _, out = _answer(server, "orch-ema", ITEM, context={"router": "stale"})
    assert out["__error__"]["error"] == "ValueError"
    assert out["__error__"]["message"].startswith("router: stale: its state (version 1) was built with policy another")
    assert out["__error__"]["message"].endswith('name another router in the run\'s context, e.g. {"router": "fresh"}')


def test_a_users_spec_is_served_beside_the_shipped_graphs(server: dict[str, Any]) -> None:
    _, out = _answer(server, "my-graph", {**ITEM, "answer": "C"})
    assert out["answer"] == "C" and out["decision"]["method"] == "vote" and out["correct"] is True


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"question": "Which?", "options": ["only one"]}, "input: options: need 2 to 10 options, got 1"),
        ({"question": "", "options": ["a", "b"]}, "input: question: String should have at least 1 character"),
        ({"options": ["a", "b"]}, "input: question: required field is missing"),
        ({**ITEM, "answer": "Z"}, "input: answer: 'Z' is not one of"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(server: dict[str, Any], item: dict, message: str) -> None:
    _, out = _answer(server, "vote", item)
    assert out["__error__"]["error"] == "ValueError" and out["__error__"]["message"].startswith(message)
    assert "\n" not in out["__error__"]["message"]


def test_a_run_streams_each_nodes_update(server: dict[str, Any]) -> None:
    parts = get_sync_client(url=server["url"]).runs.stream(None, "vote", input=ITEM, stream_mode="updates")
    nodes = [node for part in parts if part.event == "updates" for node in part.data]
    assert nodes == ["intake", "answer", "answer", "answer", "vote", "outcome"]


def test_a_thread_answers_one_item(server: dict[str, Any]) -> None:
    thread, _ = _answer(server, "single", ITEM)
    again = get_sync_client(url=server["url"]).runs.wait(thread, "single", input=ITEM, raise_error=False)
    assert "start a new thread per item" in again["__error__"]["message"]


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Serve a graph with LangGraph's server", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_examples_answer_an_item(server: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    section = _readme_section().replace("http://127.0.0.1:2024", server["url"])
    url, payload = re.search(r"curl -s (\S+) -H '[^']*' -d '(.*)'", section).groups()
    out = httpx.post(url, json=json.loads(payload), timeout=60).raise_for_status().json()
    assert (out["answer"], out["correct"], out["status"]) == ("C", True, "ok")
    [snippet] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(snippet, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["[('mid', 'C'), ('strong', 'C'), ('weak', 'A')]", "C ok merge"]
