"""One trace per item over real HTTP into a real MLflow store: the item span holds one span per node
(each fanned-out analyst too) and one CHAT_MODEL span per call inside its node, with token usage;
a failed call is an ERROR span with its reason; untraced runs record no spans at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

import orch
from tests.fake_openai import reply_for
from tests.fault_server import FaultServer, Reply, Request, completion, fault_server, json_reply, models_list


@pytest.fixture
def server() -> Iterator[FaultServer]:
    def by_model(request: Request) -> Reply:
        if request.body["model"] == "m-bad":
            return json_reply({"error": {"message": "overloaded"}}, 500)
        schema = request.body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        return completion(reply_for(schema, "B"), usage={"prompt_tokens": 11, "completion_tokens": 7})

    with fault_server() as srv:
        srv.chat = by_model
        srv.models = models_list("m-ok", "m-bad")
        yield srv


def pool(tmp_path: Path, server: FaultServer) -> Path:
    path = tmp_path / "pool.yaml"
    agents = "".join(
        f"  - {{id: {name}, model: {model}, base_url: '{server.base_url}', max_retries: 0}}\n"
        for name, model in [("a", "m-ok"), ("b", "m-ok"), ("bad", "m-bad")]
    )
    path.write_text(f"agents:\n{agents}panel: [a, b, bad]\nroles: {{merger: a}}\n")
    return path


def spans_of(run_id: str) -> list[list[object]]:
    traces = mlflow.search_traces(run_id=run_id, return_type="list")
    return [trace.data.spans for trace in traces]


def test_a_trace_holds_the_item_its_nodes_and_their_calls(tmp_path: Path, server: FaultServer) -> None:
    item = orch.make_item("Which letter?", ["x", "y", "z"], answer="B")
    outcome = orch.run([item], graph="orch-merge", pool=pool(tmp_path, server), benchmark="tracing")
    assert outcome.results[0].status == "degraded"
    [spans] = spans_of(outcome.run_id)
    by_id = {s.span_id: s for s in spans}
    names = sorted(s.name for s in spans)
    assert names == sorted(
        [
            f"item {item.id}",
            "analyze",
            "analyze",
            "analyze",
            "merge",
            "call a",  # analyst a
            "call b",
            "call bad",
            "call a",  # a merges
        ]
    )
    for call in (s for s in spans if s.name.startswith("call ")):
        parent = by_id[call.parent_id]
        assert parent.name in ("analyze", "merge") and call.span_type == "CHAT_MODEL"
        if call.name != "call bad" and parent.name == "analyze":
            assert parent.attributes["agent"] == call.attributes["agent"]
    bad = next(s for s in spans if s.name == "call bad")
    assert bad.status.status_code == "ERROR" and "HTTP 500" in bad.attributes["error"]
    ok = next(s for s in spans if s.name == "call b")
    assert ok.attributes["mlflow.chat.tokenUsage"] == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    assert ok.inputs["messages"][0]["role"] == "system" and ok.outputs["content"]
    root = next(s for s in spans if s.parent_id is None)
    assert root.name == f"item {item.id}" and root.outputs["answer"] == "B"
    [trace] = mlflow.search_traces(run_id=outcome.run_id, return_type="list")
    info = trace.info
    assert info.tags["mlflow.traceName"] == f"item {item.id}" and info.tags["item_id"] == item.id
    assert (info.tags["graph"], info.tags["correct"], info.state.value) == ("orch-merge", "True", "OK")
    assert {a.name: a.value for a in info.assessments} == {"gold": "B", "correct": True}
    assert info.token_usage["input_tokens"] == sum(
        s.attributes["mlflow.chat.tokenUsage"]["input_tokens"]
        for s in spans
        if s.status.status_code == "OK" and s.span_type == "CHAT_MODEL"
    )


def test_tracing_off_records_no_trace(tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "mlflow.yaml"
    settings.write_text("strict: true\ntracing: {enabled: false}\n")
    monkeypatch.setenv("ORCH_MLFLOW_CONFIG", str(settings))
    outcome = orch.run([orch.make_item("Which?", ["x", "y"], answer="A")], pool=pool(tmp_path, server))
    assert spans_of(outcome.run_id) == []


def test_no_trace_is_lost_at_64_items_in_flight(tmp_path: Path) -> None:
    from orch.testing.endpoint import EndpointConfig, serve_endpoint

    latency = {"p": 20.0, "q": 30.0, "r": 40.0}
    with serve_endpoint(EndpointConfig(latency_ms=latency)) as endpoint:
        path = tmp_path / "pool.yaml"
        agents = "".join(f"  - {{id: {m}, model: {m}, base_url: '{endpoint.base_url}'}}\n" for m in latency)
        path.write_text(f"agents:\n{agents}remote_concurrency: 256\n")
        batch = [orch.make_item(f"Question {i}?", ["x", "y", "z"], "A") for i in range(200)]
        outcome = orch.run(batch, pool=path, concurrency=64, benchmark="integrity")
    metrics = mlflow.MlflowClient().get_run(outcome.run_id).data.metrics
    assert (metrics["traces_written"], metrics["traces_missing"]) == (200, 0)
    traces = mlflow.search_traces(run_id=outcome.run_id, return_type="list", include_spans=False, max_results=500)
    assert len(traces) == 200 and {t.info.state.value for t in traces} == {"OK"}


def test_a_failed_item_is_an_error_trace_with_its_reasons(tmp_path: Path, server: FaultServer) -> None:
    path = tmp_path / "pool.yaml"
    agents = "".join(
        f"  - {{id: {name}, model: m-bad, base_url: '{server.base_url}', max_retries: 0}}\n" for name in "xy"
    )
    path.write_text(f"agents:\n{agents}panel: [x, y]\nroles: {{merger: x}}\n")
    outcome = orch.run([orch.make_item("Which?", ["p", "q"], answer="A")], pool=path, benchmark="tracing")
    assert outcome.results[0].status == "failed"
    [trace] = mlflow.search_traces(run_id=outcome.run_id, return_type="list")
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert trace.info.state.value == "ERROR" and root.status.status_code == "ERROR"
    assert "HTTP 500" in root.attributes["failures"] and "HTTP 500" in root.status.description
    assert [a.name for a in trace.info.assessments] == ["gold"]  # a failed item is not scored
