"""A loopback OpenAI-compatible HTTP server that misbehaves on cue, for tests of how failed calls are
reported: each test sets what `/v1/chat/completions` and `/v1/models` answer (well-formed JSON, a
malformed 200, an HTML page, a 401 echoing the key...) and reads back every request it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FaultServer",
    "Reply",
    "Request",
    "completion",
    "echo_authorization",
    "fault_server",
    "json_reply",
    "models_list",
]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, sent byte for byte."""

    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it: header names lower-cased, `body` the parsed JSON of a POST."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any]


Script = Reply | Callable[[Request], Reply]
"""A fixed reply, or a function of the request (to echo its headers, or answer by model)."""


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload))


def completion(content: str | None = "hello", **overrides: Any) -> Reply:
    """A well-formed chat completion (as llama.cpp or OpenAI send it), with any top-level field replaced."""
    payload = {
        "id": "fault-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    return json_reply({**payload, **overrides})


def models_list(*ids: str) -> Reply:
    return json_reply({"object": "list", "data": [{"id": i, "object": "model", "owned_by": "test"} for i in ids]})


def echo_authorization(status: int = 401) -> Script:
    """An error whose body repeats the Authorization header, as some gateways do."""

    def reply(request: Request) -> Reply:
        message = f"invalid credentials: {request.headers.get('authorization', '(none)')}"
        return json_reply({"error": {"message": message, "type": "invalid_request_error"}}, status)

    return reply


@dataclass
class FaultServer:
    """What the server answers (set `chat` and `models` per test) and what it was asked."""

    base_url: str
    chat: Script = field(default_factory=completion)
    models: Script = field(default_factory=lambda: models_list("m"))
    requests: list[Request] = field(default_factory=list)
    """Every request, in arrival order."""

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    """A started server on 127.0.0.1 (a free port); `base_url` ends in `/v1`."""
    lock = threading.Lock()
    state: list[FaultServer] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, script: Script | None, body: dict[str, Any]) -> None:
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with lock:
                state[0].requests.append(request)
            if script is None:
                reply = json_reply({"error": {"message": "no such route"}}, 404)
            else:
                reply = script if isinstance(script, Reply) else script(request)
            data = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(state[0].models if self.path == "/v1/models" else None, {})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            self._answer(state[0].chat if self.path == "/v1/chat/completions" else None, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.append(FaultServer(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
