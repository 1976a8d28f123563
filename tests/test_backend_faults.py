"""Endpoints that misbehave, over real HTTP on loopback: a malformed reply is a failed call (a
BackendError with the reason), never a crash and never an answer; the API key never reaches an error
text; preflight names the agent, the URL and the cause in one line before a run starts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from orch.backends.pool import AgentPool
from orch.backends.preflight import check_endpoints
from orch.config import PoolConfig, load_pool_config
from orch.errors import BackendError, ConfigError
from orch.records import Completion
from orch.testing import ScriptedChatModel
from tests.fake_openai import reply_for
from tests.fault_server import (
    FaultServer,
    Reply,
    Request,
    completion,
    echo_authorization,
    fault_server,
    json_reply,
    models_list,
)

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    monkeypatch.setenv("FAULT_KEY", KEY)
    with fault_server() as srv:
        yield srv


def pool_file(tmp_path: Path, *agents: str) -> PoolConfig:
    """A pool YAML with the given agent mappings (flow style), read the way the CLI reads it."""
    path = tmp_path / "pool.yaml"
    path.write_text("agents:\n" + "".join(f"  - {a}\n" for a in agents))
    return load_pool_config(path)[0]


def remote(agent_id: str, base_url: str, model: str = "m", key: str | None = "FAULT_KEY") -> str:
    key_field = f", api_key_env: {key}" if key else ""
    return f"{{id: {agent_id}, model: {model}, base_url: '{base_url}', max_retries: 0, timeout_s: 10{key_field}}}"


def call(config: PoolConfig, agent_id: str = "x") -> Completion:
    """One real call through `AgentPool.start` → `AgentClient.complete` → ChatOpenAI → HTTP."""
    with AgentPool.start(config, [agent_id]) as pool:
        return asyncio.run(pool.client(agent_id).complete([HumanMessage("hi")], max_tokens=5))


def failure(config: PoolConfig, agent_id: str = "x") -> str:
    with pytest.raises(BackendError) as raised:
        call(config, agent_id)
    message = str(raised.value)
    assert KEY not in message and "\n" not in message, message
    return message


def _choice(**fields: Any) -> dict[str, Any]:
    return {"index": 0, "finish_reason": "stop", **fields}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (completion(choices=None), "malformed reply: no choices"),
        (completion(choices=[]), "malformed reply: no choices"),
        (json_reply({"id": "x", "object": "chat.completion"}), "malformed reply: no choices"),
        (
            Reply(200, "<html><body>Sign in to the proxy</body></html>", "text/html"),
            "malformed reply: not JSON (text/html)",
        ),
        (Reply(200, "<html>oops</html>", "application/json"), "malformed reply: not JSON (application/json)"),
        (Reply(200, ""), "malformed reply: not JSON (application/json)"),
        (json_reply([]), "malformed reply: not a JSON object (array)"),
        (json_reply("hello"), "malformed reply: not a JSON object (string)"),
        (json_reply({"error": {"message": "model overloaded"}}), "the endpoint reported an error: model overloaded"),
        (completion(choices=[_choice()]), "malformed reply: a choice has no message"),
        (completion(choices=[_choice(message=None)]), "malformed reply: a choice has no message"),
        (completion(choices="abc"), "malformed reply: choices is not a list (string)"),
        (completion(usage="lots"), "malformed reply: usage is not an object"),
        (json_reply({"error": {"message": "boom"}}, 500), "HTTP 500 Internal Server Error: boom"),
        (Reply(502, "<html>bad gateway</html>", "text/html"), "HTTP 502 Bad Gateway: bad gateway"),
    ],
)
def test_a_malformed_reply_is_a_failed_call(server: FaultServer, tmp_path: Path, reply: Reply, reason: str) -> None:
    server.chat = reply
    message = failure(pool_file(tmp_path, remote("x", server.base_url)))
    assert message.startswith("agent 'x': ") and reason in message, message
    assert server.hits("/v1/chat/completions") == 1  # max_retries: 0, and malformed replies are never retried


@pytest.mark.parametrize("content", [None, ""])
def test_an_empty_message_is_empty_text_not_an_error(server: FaultServer, tmp_path: Path, content: str | None) -> None:
    server.chat = completion(content)
    done = call(pool_file(tmp_path, remote("x", server.base_url)))
    assert (done.text, done.finish_reason, done.output_tokens) == ("", "stop", 1)


def test_a_well_formed_reply_is_read(server: FaultServer, tmp_path: Path) -> None:
    done = call(pool_file(tmp_path, remote("x", server.base_url)))
    assert (done.text, done.input_tokens) == ("hello", 5)
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_a_key_echoed_by_the_endpoint_is_redacted(server: FaultServer, tmp_path: Path) -> None:
    server.chat = echo_authorization(401)
    message = failure(pool_file(tmp_path, remote("x", server.base_url)))
    assert message == "agent 'x': HTTP 401 Unauthorized: invalid credentials: Bearer ***", message


def test_a_bug_in_a_chat_model_is_not_taken_for_a_malformed_reply(pool_config: PoolConfig) -> None:
    """No reply was seen, so a TypeError is a bug: it keeps its type and traceback."""
    model = ScriptedChatModel(script=lambda messages, kwargs: TypeError("our own bug"))
    pool = AgentPool.from_chat_models(pool_config, {"strong": model})
    with pytest.raises(TypeError, match="our own bug"):
        asyncio.run(pool.client("strong").complete([HumanMessage("hi")]))


def test_a_run_records_a_malformed_reply_and_carries_on(server: FaultServer, tmp_path: Path) -> None:
    from orch.app.session import Session
    from orch.items import Item

    def by_model(request: Request) -> Reply:
        if request.body["model"] == "m-bad":
            return completion(choices=None)
        schema = request.body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        return completion(reply_for(schema, "B"))

    server.chat = by_model
    server.models = models_list("m-bad", "m-ok")  # both pass the pool's preflight; only the calls differ
    config = pool_file(tmp_path, remote("bad", server.base_url, "m-bad"), remote("ok", server.base_url, "m-ok"))
    item = Item(id="f/1", question="q?", options=("a", "b", "c"), answer="B")
    with AgentPool.start(config, ["bad", "ok"]) as pool, Session("orch", config).start(pool) as run:
        result = run.invoke(item)
    bad = next(a for a in result.analyses if a.agent == "bad")
    assert bad.path == "error" and bad.error == "agent 'bad': malformed reply: no choices"
    assert result.answer == "B"


# --- preflight -------------------------------------------------------------------------------


def preflight_error(config: PoolConfig, *agent_ids: str) -> str:
    with pytest.raises(BackendError) as raised:
        check_endpoints(config, agent_ids or config.agent_ids, timeout_s=5)
    message = str(raised.value)
    assert KEY not in message and "\n" not in message, message
    return message


def test_preflight_passes_a_serving_endpoint_with_one_request_for_two_agents(
    server: FaultServer, tmp_path: Path
) -> None:
    server.models = models_list("m", "other")
    config = pool_file(tmp_path, remote("a", server.base_url), remote("b", server.base_url, "other"))
    check_endpoints(config, ["a", "b"])
    assert server.hits("/v1/models") == 1 and len(server.requests) == 1
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_preflight_names_an_unreachable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_KEY", KEY)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    message = preflight_error(pool_file(tmp_path, remote("x", url)))
    assert message.startswith(f"agent 'x' at {url}/models: unreachable (ConnectError: "), message


def test_preflight_says_the_key_was_refused(server: FaultServer, tmp_path: Path) -> None:
    server.models = echo_authorization(401)
    message = preflight_error(pool_file(tmp_path, remote("x", server.base_url)))
    assert message == f"agent 'x' at {server.base_url}/models: the API key was refused (HTTP 401)"


def test_preflight_reports_other_statuses(server: FaultServer, tmp_path: Path) -> None:
    server.models = json_reply({"error": "down"}, 503)
    message = preflight_error(pool_file(tmp_path, remote("x", server.base_url)))
    assert message == f"agent 'x' at {server.base_url}/models: HTTP 503"


def test_preflight_names_a_model_the_endpoint_does_not_serve(server: FaultServer, tmp_path: Path) -> None:
    server.models = models_list("gpt-4o-mini", "gpt-4o")
    config = pool_file(tmp_path, remote("ok", server.base_url, "gpt-4o"), remote("typo", server.base_url, "gpt-4o-mni"))
    message = preflight_error(config)
    assert message == (
        f"agent 'typo' at {server.base_url}/models: model 'gpt-4o-mni' is not served "
        "(served: ['gpt-4o-mini', 'gpt-4o']) Did you mean 'gpt-4o-mini'?"
    )
    assert server.hits("/v1/models") == 1


@pytest.mark.parametrize("models", [Reply(404, '{"error": "no route"}'), models_list(), Reply(200, "ok", "text/plain")])
def test_preflight_passes_when_the_model_cannot_be_checked(server: FaultServer, tmp_path: Path, models: Reply) -> None:
    """A proxy without /models, an empty list or another body: reachable, the model is not checked."""
    server.models = models
    check_endpoints(pool_file(tmp_path, remote("x", server.base_url, "anything")), ["x"])


def test_preflight_wants_the_key_variable_set(server: FaultServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FAULT_KEY")
    config = pool_file(tmp_path, remote("x", server.base_url))
    with pytest.raises(ConfigError) as raised:
        check_endpoints(config, ["x"])
    assert str(raised.value) == "pool: agents[0].api_key_env: agent 'x': environment variable FAULT_KEY is not set"
    assert server.requests == []


def test_preflight_skips_local_agents_and_checks_endpoints_at_once(tmp_path: Path) -> None:
    """Two endpoints that both hang: the checks overlap, so the run waits one timeout, not two."""
    import time

    with socket.socket() as first, socket.socket() as second:
        for sock in (first, second):  # listening, never accepting: the request times out
            sock.bind(("127.0.0.1", 0))
            sock.listen(0)
        urls = [f"http://127.0.0.1:{s.getsockname()[1]}/v1" for s in (first, second)]
        config = pool_file(
            tmp_path,
            "{id: here, model: m, local: no-such-model}",
            *(remote(f"r{i}", url, key=None) for i, url in enumerate(urls)),
        )
        started = time.perf_counter()
        with pytest.raises(BackendError, match=r"agent 'r0' at .*: unreachable \(\w*Timeout"):
            check_endpoints(config, config.agent_ids, timeout_s=0.5)
        assert time.perf_counter() - started < 0.95


# --- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "not a url", "agents[0].base_url: must be an http:// or https:// URL with a host"),
        ("base_url", "ftp://x", "agents[0].base_url: must be an http:// or https:// URL with a host"),
        ("base_url", "https:///v1", "agents[0].base_url: must be an http:// or https:// URL"),
        (
            "api_key_env",
            "sk-abc123DEF456ghi789",
            "agents[0].api_key_env: must name an environment variable",
        ),
    ],
)
def test_bad_endpoint_fields_name_the_field_not_the_value(tmp_path: Path, field: str, value: str, message: str) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(f"agents: [{{id: a, model: m, base_url: 'http://h/v1', {field}: '{value}'}}]\n")
    with pytest.raises(ConfigError) as raised:
        load_pool_config(path)
    assert str(raised.value).startswith(f"{path}: {message}"), str(raised.value)
    assert value not in str(raised.value) and value not in str(raised.value.__cause__)


def test_a_pasted_key_is_not_echoed_when_a_model_is_built() -> None:
    """An AgentConfig that skipped validation (model_construct) still does not show the value."""
    from orch.backends.endpoints import build_chat_model
    from orch.config import AgentConfig

    agent = AgentConfig.model_construct(id="x", model="m", base_url="http://h/v1", api_key_env=KEY, timeout_s=1.0)
    with pytest.raises(BackendError) as raised:
        build_chat_model(agent, "http://h/v1", seed=0, temperature=0.0)
    assert str(raised.value) == (
        "agent 'x': api_key_env must name an environment variable (it looks like a key itself; the value is not shown)"
    )
