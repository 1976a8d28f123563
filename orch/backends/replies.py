"""Reading what an OpenAI-compatible endpoint sent back: whether an HTTP-2xx body is a usable chat
completion, and the one-line message of an error body (HTML pages and JSON errors alike)."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["error_message", "malformed_reason"]

_SPACE = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]+>")


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null")


def malformed_reason(content: bytes, content_type: str) -> str | None:
    """Why an HTTP-2xx chat-completions body cannot be read, or None when its shape is fine."""
    kind = content_type.split(";")[0].strip() or "no content type"
    try:
        body: Any = json.loads(content)
    except ValueError:
        return f"not JSON ({kind})"
    if not isinstance(body, dict):
        return f"not a JSON object ({_json_type(body)})"
    if error := body.get("error"):
        message = error.get("message", error) if isinstance(error, dict) else error
        return f"the endpoint reported an error: {one_line(str(message))}"
    choices = body.get("choices")
    if not choices:
        return "no choices"
    if not isinstance(choices, list):
        return f"choices is not a list ({_json_type(choices)})"
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return "a choice has no message"
    if body.get("usage") is not None and not isinstance(body["usage"], dict):
        return "usage is not an object"
    return None


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
