"""Reading what an OpenAI-compatible endpoint sent back: whether an HTTP-2xx body is a usable chat
completion, and the one-line message of an error body (HTML pages and JSON errors alike)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["error_message", "read_completion"]

_SPACE = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]+>")


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null")


def read_completion(content: bytes, content_type: str) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """An HTTP-2xx chat-completions body as JSON, or why it cannot be read (parsed once, by orjson)."""
    kind = content_type.split(";")[0].strip() or "no content type"
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None, f"not JSON ({kind})"
    if not isinstance(body, dict):
        return None, f"not a JSON object ({_json_type(body)})"
    if error := body.get("error"):
        message = error.get("message", error) if isinstance(error, dict) else error
        return None, f"the endpoint reported an error: {one_line(str(message))}"
    choices = body.get("choices")
    if not choices:
        return None, "no choices"
    if not isinstance(choices, list):
        return None, f"choices is not a list ({_json_type(choices)})"
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return None, "a choice has no message"
    if body.get("usage") is not None and not isinstance(body["usage"], dict):
        return None, "usage is not an object"
    return body, None


def error_message(content: bytes) -> str:
    """The message of an error reply: `error.message` of a JSON body, else its text without tags."""
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return one_line(_TAGS.sub(" ", text))
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return one_line(str(message))


def one_line(text: str, limit: int = 200) -> str:
    """Whitespace collapsed, at most `limit` characters: reasons are stored and printed as one line."""
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
