"""The HTTP face of `orch serve`: OpenAI's `/v1/models` and `/v1/chat/completions` on Starlette.

Every error is OpenAI's error JSON, so an OpenAI client raises its usual exception with the message:
400 a request orch cannot read (naming the field), 401 a missing or wrong key, 404 an unknown
model or path, 502 an item whose calls failed (never an answer made up), 503 a backend that failed
beyond its calls.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orch.errors import OrchError
from orch.serve.protocol import RequestError, completion, error_body, extension, item_of, read_request

if TYPE_CHECKING:
    from orch.app.answerer import Answerer

__all__ = ["MAX_BODY_BYTES", "build_app"]

MAX_BODY_BYTES = 1_000_000
"""Far above any question orch takes (50,000 characters, 10 options of 5,000)."""

_log = logging.getLogger("orch.serve")
Handler = Callable[[Request], Awaitable[Response]]


def _refusal(error: RequestError) -> JSONResponse:
    return JSONResponse(error_body(error.message, param=error.param, code=error.code), status_code=error.status)


def _guarded(handler: Handler, api_key: str | None) -> Handler:
    """`handler` behind `Authorization: Bearer <api_key>` (when a key is set)."""
    if not api_key:
        return handler
    expected = f"Bearer {api_key}".encode()

    async def guarded(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _refusal(
                RequestError(
                    "invalid API key: send `Authorization: Bearer <key>` with the key orch serve was started with",
                    status=401,
                    code="invalid_api_key",
                )
            )
        return await handler(request)

    return guarded


async def _json_body(request: Request) -> object:
    too_large = RequestError(f"the request body is larger than {MAX_BODY_BYTES:,} bytes", status=413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():  # a body sent without its length is cut off as well
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise too_large
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RequestError(f"the request body is not JSON: {exc}") from None


def build_app(answerers: Mapping[str, Answerer], *, api_key: str | None = None) -> Starlette:
    """The application serving `answerers` (model id = graph name), behind `api_key` when set."""

    def model_card(name: str) -> dict[str, object]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "orch"}

    def answerer(model: str) -> Answerer:
        if model not in answerers:
            raise RequestError(
                f"The model {model!r} does not exist: this server answers with {sorted(answerers)}",
                "model",
                status=404,
                code="model_not_found",
            )
        return answerers[model]

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_card(name) for name in answerers]})

    async def model(request: Request) -> Response:
        try:
            return JSONResponse(model_card(answerer(request.path_params["model"]).name))
        except RequestError as error:
            return _refusal(error)

    async def chat(request: Request) -> Response:
        try:
            asked = read_request(await _json_body(request))
            graph = answerer(asked.model)
            item = item_of(asked)
        except RequestError as error:
            return _refusal(error)
        try:
            answer = await graph.answer(item)
        except OrchError as exc:
            return JSONResponse(error_body(f"{graph.name}: {exc}", kind="server_error", code="backend_failed"), 503)
        except Exception as exc:  # our bug: its traceback goes to the log, its one line to the client
            _log.exception("answering %s failed", item.id)
            return JSONResponse(error_body(f"internal error: {type(exc).__name__}: {exc}", kind="server_error"), 500)
        if answer.result.status == "failed" or answer.result.answer is None:
            reasons = "; ".join(answer.result.failures) or "no answer"
            body = error_body(f"{graph.name}: the item failed, no answer: {reasons}", kind="server_error")
            body["error"]["code"] = "item_failed"
            return JSONResponse({**body, "orch": extension(answer, asked.ignored())}, 502)
        return JSONResponse(completion(graph.name, answer, asked.ignored()))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = f"{request.method} {request.url.path}: {exc.detail if isinstance(exc, HTTPException) else exc}"
        return JSONResponse(error_body(message), status_code=status)

    routes = [
        Route("/v1/models", _guarded(models, api_key), methods=["GET"]),
        Route("/v1/models/{model:path}", _guarded(model, api_key), methods=["GET"]),
        Route("/v1/chat/completions", _guarded(chat, api_key), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
