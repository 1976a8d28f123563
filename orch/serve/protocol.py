"""OpenAI's chat-completions shapes, as far as `orch serve` reads and writes them: a request becomes
an `Item` (or a `RequestError` naming the field), a result becomes a `chat.completion`.

A question comes either structured, in the request's own `orch` field
(`{"question": ..., "options": [...]}`; no options: a numeric question), or as the last user
message: the question's text, then one line per option, `A) text`, `A. text` or `(A) text`, in
letter order. Lines after the options (say, "Answer with the letter.") are not part of the item.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch.items import LETTERS, Item

if TYPE_CHECKING:
    from orch.app.answerer import Answer

__all__ = ["ChatRequest", "RequestError", "completion", "error_body", "extension", "item_of", "read_request"]

_OPTION = re.compile(rf"^\s*\(?([{LETTERS}])\s*[).:]\s+(\S.*?)\s*$")
_SAMPLING = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "logprobs", "tools")
"""Parameters a chat model honours and a graph does not (its pool decides): listed back as ignored."""


class RequestError(Exception):
    """The client's mistake: HTTP `status`, one line naming `param`, in OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None, *, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None):
    """OpenAI's error JSON: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class StructuredQuestion(BaseModel):
    """The `orch` field of a request: the question without any parsing."""

    model_config = ConfigDict(extra="forbid")

    question: str
    options: list[str] | None = None
    """Option texts in letter order (A, B, …); leave out for a question whose answer is a number."""


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """A string, or the text parts of a list of content parts, joined by newlines."""
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields orch reads; the rest of OpenAI's request is accepted and listed as ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[Message] = Field(default_factory=list)
    stream: bool = False
    n: Literal[1] = 1
    orch: StructuredQuestion | None = None

    def ignored(self) -> list[str]:
        """The sampling parameters sent that the graph does not take (the pool's settings apply)."""
        return sorted(name for name in (self.model_extra or {}) if name in _SAMPLING)


def read_request(body: Any) -> ChatRequest:
    """The request, or a `RequestError` naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RequestError(f"{where}: {first['msg']}", where) from None
    if request.stream:
        raise RequestError(
            "stream: streaming is not supported; send stream: false (the answer comes at once)", "stream"
        )
    return request


def _from_text(text: str) -> tuple[str, list[str]]:
    """(question, options) of a message: the first run of lines `A) …`, `B) …` in letter order."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        match = _OPTION.match(line)
        if match is None or match.group(1) != "A":
            continue
        options: list[str] = []
        for later in lines[start:]:
            match = _OPTION.match(later)
            if match is not None and len(options) < len(LETTERS) and match.group(1) == LETTERS[len(options)]:
                options.append(match.group(2))
            elif later.strip():  # the options end here (a blank line between two does not end them)
                break
        if len(options) >= 2:
            return "\n".join(lines[:start]).strip(), options
    raise RequestError(
        "messages: the last user message has no options: put each on its own line as 'A) text' or 'A. text' "
        "(at least A and B), or send the question in the `orch` field {question, options}",
        "messages",
    )


def item_of(request: ChatRequest) -> Item:
    """The request's question as an `Item` (id `ask/<hash>`, as `orch ask` gives the same question)."""
    from orch.api import make_item

    if request.orch is not None:
        question, options, param = request.orch.question, request.orch.options, "orch"
    else:
        users = [m for m in request.messages if m.role == "user"]
        if not users:
            raise RequestError("messages: no user message: the last user message holds the question", "messages")
        question, options = _from_text(users[-1].text())
        param = "messages"
    if not question.strip():
        raise RequestError(f"{param}: the question text is empty (it goes before the options)", param)
    try:
        return make_item(question, options or None)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part != "options")  # an option's index, or nothing
        where = f"{param}.options[{field}]" if "options" in first["loc"] else f"{param}.{field}" if field else param
        raise RequestError(f"{where}: {first['msg'].removeprefix('Value error, ')}", param) from None


def _content(item: Item, answer: str) -> str:
    """The answer as a reader wants it: `C) Paris`, or the number itself."""
    return f"{answer}) {item.option_text(answer)}" if item.options and answer in item.letters else answer


def extension(answer: Answer, ignored: list[str]) -> dict[str, Any]:
    """The `orch` field of a reply: how the answer was reached, and where it is logged."""
    result = answer.result
    return {
        "item_id": result.item.id,
        "answer": result.answer,
        "status": result.status,
        "failures": result.failures,
        "decision": result.decision.model_dump(mode="json"),
        "analyses": [a.model_dump(mode="json") for a in result.analyses],
        "panel": result.panel,
        "roles": result.roles,
        "routing": result.routing.model_dump(mode="json") if result.routing else None,
        "usage": result.usage.model_dump(mode="json"),
        "wall_ms": result.wall_ms,
        "run_id": answer.run_id,
        "tracking_uri": answer.tracking_uri,
        "ignored": ignored,
    }


def completion(model: str, answer: Answer, ignored: list[str]) -> dict[str, Any]:
    """A `chat.completion` for an answered item: the answer as the message, usage the sum of the
    graph's calls, and the `orch` field for the rest."""
    result = answer.result
    usage = result.usage
    return {
        "id": f"chatcmpl-orch-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _content(result.item, result.answer or "")},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
        "orch": extension(answer, ignored),
    }
