"""A loopback OpenAI-compatible endpoint for tests and benchmarks, never for answers.

Each model answers after a fixed latency with a reply that fits the request's JSON schema (the
letter is a hash of the model and the messages, so runs repeat), and a chosen share of attempts
fail in chosen ways. A fault is a function of the request body and how often that body was seen,
so a retried call can succeed and two runs fail the same attempts, whatever the concurrency.

    python -m orch.testing.endpoint --latency analyst-a=300 --latency merger=300 --fault-rate 0.2

prints `listening on http://127.0.0.1:PORT/v1`; `GET /stats` counts requests and faults (reset by
`POST /stats/reset`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULTS", "EndpointConfig", "RunningEndpoint", "build_app", "fill_schema", "serve_endpoint"]

FAULTS = ("500", "429", "hang", "drop", "bad_json", "empty", "bad_letter", "no_choices", "html")
"""Every fault kind: HTTP errors (500, 429 with Retry-After), a reply slower than any timeout, a
dropped connection, and HTTP-200 replies orch must not take for answers."""

_FILLER = "the option that fits the definition is the one the passage states directly; others fail"


@dataclass(frozen=True)
class EndpointConfig:
    latency_ms: dict[str, float] = field(default_factory=dict)
    """Fixed latency per model name; others get `default_latency_ms`."""
    default_latency_ms: float = 0.0
    fault_rate: float = 0.0
    """Share of attempts that fail, each with a kind drawn from `faults`."""
    faults: tuple[str, ...] = FAULTS
    seed: int = 0
    retry_after_s: float = 0.05
    hang_s: float = 60.0
    api_key: str | None = None
    """When set, a request without `Authorization: Bearer <key>` gets 401."""

    def latency_s(self, model: str) -> float:
        return self.latency_ms.get(model, self.default_latency_ms) / 1000


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def fill_schema(schema: dict[str, Any], pick: Callable[[Sequence[Any]], Any]) -> Any:
    """A value matching a JSON schema of the kinds orch sends (objects, arrays, bounded strings, enums)."""
    if "enum" in schema:
        return pick(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return {name: fill_schema(sub, pick) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill_schema(schema.get("items", {}), pick) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "string":
        return "42" if "pattern" in schema else _FILLER[: min(schema.get("maxLength", 60), 60)]
    if kind in ("integer", "number"):
        return schema.get("maximum", 70)
    return None


def _content(body: dict[str, Any], model: str) -> str:
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if isinstance(fmt, dict) else None
    seed = _digest(model, json.dumps(body.get("messages"), sort_keys=True))
    value = fill_schema(
        schema or {"type": "object", "properties": {"answer": {"enum": ["A"]}}}, lambda c: c[seed % len(c)]
    )
    return json.dumps(value)


def _completion(model: str, content: str | None, body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    prompt_tokens = len(json.dumps(body.get("messages"))) // 4
    return {
        "id": f"chatcmpl-{_digest(model, content) % 10**12}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 40, "total_tokens": prompt_tokens + 40},
        **overrides,
    }


class _Fault:
    """Which attempts fail: attempt n of a body fails when its hash says so (seeded)."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.attempts: Counter[int] = Counter()

    def kind(self, raw: bytes) -> str | None:
        if self.config.fault_rate <= 0 or not self.config.faults:
            return None
        body_key = _digest(raw)
        attempt = self.attempts[body_key]
        self.attempts[body_key] += 1
        draw = _digest(self.config.seed, body_key, attempt)
        if (draw % 1_000_000) / 1_000_000 >= self.config.fault_rate:
            return None
        return self.config.faults[(draw // 1_000_000) % len(self.config.faults)]


def build_app(config: EndpointConfig) -> Any:
    """The aiohttp application (imported here: aiohttp is only needed to serve)."""
    from aiohttp import web

    stats: Counter[str] = Counter()
    first: dict[str, float] = {}
    answered: set[int] = set()
    faults = _Fault(config)

    async def chat(request: web.Request) -> web.StreamResponse:
        stats["requests"] += 1
        first.setdefault("first_request_at", time.time())
        if config.api_key and request.headers.get("Authorization") != f"Bearer {config.api_key}":
            stats["unauthorized"] += 1
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        raw = await request.read()
        body = json.loads(raw)
        model = str(body.get("model", ""))
        stats[f"model:{model}"] += 1
        kind = faults.kind(raw)
        if kind is not None:
            stats[f"fault:{kind}"] += 1
        body_key = _digest(raw)
        if body_key in answered:  # the same call answered well before: a cache (or resume) would not ask
            stats["repeats"] += 1
        await asyncio.sleep(config.hang_s if kind == "hang" else config.latency_s(model))
        if kind is None:
            answered.add(body_key)
        return _fault_reply(web, request, kind, model, body, config)

    async def models(_: web.Request) -> web.Response:
        names = sorted(config.latency_ms) or ["test"]
        return web.json_response({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response({**stats, **first})

    async def reset_stats(_: web.Request) -> web.Response:
        stats.clear()
        first.clear()
        return web.json_response({})

    app = web.Application(client_max_size=64 * 2**20)
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat),
            web.get("/v1/models", models),
            web.get("/stats", get_stats),
            web.post("/stats/reset", reset_stats),
        ]
    )
    return app


def _fault_reply(web: Any, request: Any, kind: str | None, model: str, body: dict, config: EndpointConfig) -> Any:
    if kind == "500":
        return web.json_response({"error": {"message": "injected server error"}}, status=500)
    if kind == "429":
        headers = {"Retry-After": f"{config.retry_after_s:g}"}
        return web.json_response({"error": {"message": "injected rate limit"}}, status=429, headers=headers)
    if kind == "drop":
        request.transport.abort()
        return web.Response()
    if kind == "html":
        return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    if kind == "no_choices":
        return web.json_response(_completion(model, "", body, choices=[]))
    content = {"bad_json": '{"answer": "A", "key_points": [', "empty": ""}.get(kind or "")
    if kind == "bad_letter":
        content = json.dumps({**json.loads(_content(body, model)), "answer": "Z"})
    return web.json_response(_completion(model, _content(body, model) if content is None else content, body))


@dataclass(frozen=True)
class RunningEndpoint:
    base_url: str
    """Ends in `/v1`."""

    def stats(self) -> dict[str, float]:
        """Requests, faults by kind (`fault:<kind>`), per model (`model:<name>`), `repeats` (requests
        for a call already answered without a fault) and `first_request_at`."""
        return self._get("/stats")

    def reset_stats(self) -> None:
        self._get("/stats/reset", method="POST")

    def _get(self, path: str, method: str = "GET") -> dict[str, float]:
        import urllib.request

        request = urllib.request.Request(self.base_url.removesuffix("/v1") + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())


def _arguments(config: EndpointConfig) -> list[str]:
    args = [f"--latency={m}={ms:g}" for m, ms in config.latency_ms.items()]
    args += [f"--default-latency={config.default_latency_ms:g}", f"--fault-rate={config.fault_rate:g}"]
    args += [f"--faults={','.join(config.faults)}", f"--seed={config.seed}", f"--retry-after={config.retry_after_s:g}"]
    args += [f"--hang={config.hang_s:g}"] + ([f"--api-key={config.api_key}"] if config.api_key else [])
    return args


@contextmanager
def serve_endpoint(config: EndpointConfig) -> Iterator[RunningEndpoint]:
    """The endpoint in a process of its own on 127.0.0.1 (a free port), stopped on exit: measured
    clients share no event loop or CPU time slice with it."""
    command = [sys.executable, "-m", "orch.testing.endpoint", *_arguments(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the test endpoint did not start: {line!r}")
        yield RunningEndpoint(line.removeprefix("listening on ").strip())
    finally:
        process.terminate()
        process.wait(timeout=10)


def _parse(argv: Sequence[str] | None) -> tuple[EndpointConfig, int]:
    parser = argparse.ArgumentParser(prog="python -m orch.testing.endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", action="append", default=[], metavar="MODEL=MS")
    parser.add_argument("--default-latency", type=float, default=0.0, metavar="MS")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=0.05, metavar="S")
    parser.add_argument("--hang", type=float, default=60.0, metavar="S")
    parser.add_argument("--api-key")
    a = parser.parse_args(argv)
    unknown = set(a.faults.split(",")) - set(FAULTS) - {""}
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {','.join(FAULTS)}")
    latency = {m: float(ms) for m, _, ms in (item.rpartition("=") for item in a.latency)}
    faults = tuple(f for f in a.faults.split(",") if f)
    config = EndpointConfig(latency, a.default_latency, a.fault_rate, faults, a.seed, a.retry_after, a.hang, a.api_key)
    return config, a.port


def main(argv: Sequence[str] | None = None) -> None:
    from aiohttp import web

    config, port = _parse(argv)

    async def serve() -> None:
        runner = web.AppRunner(build_app(config), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"listening on http://127.0.0.1:{bound}/v1", flush=True)
        await asyncio.Event().wait()

    with suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
