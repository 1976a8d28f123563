"""A scripted OpenAI-compatible HTTP server on loopback, for tests that must count calls at the
HTTP boundary without a real model. It answers `/v1/chat/completions` with JSON that fits the
request's `response_format` schema, choosing the answer by the request's model name."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answerer = Callable[[str, list[str]], str]
"""(model name, valid answers from the schema enum) → the answer to give; `CUT` cuts the reply short
(`finish_reason: length`) right after the opening brace, as a model hitting max_tokens does."""
CUT = "<cut>"


def reply_for(schema: dict[str, Any], answer: str) -> str:
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    if "key_points" in props:
        out["key_points"] = ["a fact"]
    if "eliminations" in props:
        out["eliminations"] = {letter: "note" for letter in props["eliminations"]["required"]}
    if "reasoning" in props:
        out["reasoning"] = "steps"
    if "rationale" in props:
        out["rationale"] = "because"
    if "sub_questions" in props:  # the dispatcher's call
        out["sub_questions"] = [f"sub-question {i}" for i in range(1, props["sub_questions"]["maxItems"] + 1)]
    out["answer"] = answer
    if "confidence" in props:
        out["confidence"] = 60
    return json.dumps(out)


@contextmanager
def fake_openai(answer: Answerer) -> Iterator[dict[str, Any]]:
    """Yields {"base_url": ..., "requests": [parsed request bodies]}."""
    requests: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # no /v1/models here: the pool's preflight treats 404 as "cannot check"
            self.send_error(404)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                requests.append(body)
            schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
            enum = schema.get("properties", {}).get("answer", {}).get("enum", ["A"])
            choice = answer(body["model"], enum)
            text = '{"key_points": ["a fact that was cu' if choice == CUT else reply_for(schema, choice)
            payload = json.dumps(
                {
                    "id": f"fake-{len(requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "length" if choice == CUT else "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base_url": f"http://127.0.0.1:{server.server_address[1]}/v1", "requests": requests}
    finally:
        server.shutdown()
        server.server_close()
