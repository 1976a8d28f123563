"""Turning a model's reply into an answer, recording which rule read it."""

from __future__ import annotations

import json

from orch.items import Item
from orch.nodes.extract import extract, normalise_number
from orch.records import Analysis, ParsePath

__all__ = ["read_analysis", "read_choice", "valid_answer"]

_PATHS: dict[str, ParsePath] = {
    "json": "json",
    "json_tolerant": "json_tolerant",
    "answer_line": "answer_line",
    "bare": "bare",
    "last_number": "last_number",
    "none": "invalid",
}


def valid_answer(value: object, item: Item) -> str | None:
    """The canonical answer if `value` is exactly a valid one (a schema-enforced field)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    if item.options is None:
        return normalise_number(value)
    letter = str(value).strip().upper()
    return letter if letter in item.letters else None


def _confidence(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value) / 100 if value > 1 else float(value)
    return min(max(value, 0.0), 1.0)


def read_choice(text: str, item: Item) -> tuple[str | None, ParsePath, dict[str, object]]:
    """Answer, parse path and whatever JSON fields were readable."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and (answer := valid_answer(data.get("answer"), item)) is not None:
        return answer, "json", data
    found = extract(text, item.letters if item.options is not None else None)
    return found.answer, _PATHS[found.path], dict(found.fields)


def read_analysis(text: str, item: Item) -> tuple[Analysis, ParsePath]:
    """An `Analysis` from a structured reply, keeping every readable field even when cut short."""
    answer, path, fields = read_choice(text, item)
    points = fields.get("key_points")
    notes = fields.get("eliminations")
    analysis = Analysis(
        key_points=[str(p) for p in points if isinstance(p, str | int | float)] if isinstance(points, list) else [],
        eliminations={k.upper(): str(v) for k, v in notes.items() if k.upper() in item.letters}
        if isinstance(notes, dict)
        else {},
        answer=answer,
        confidence=_confidence(fields.get("confidence")),
    )
    return analysis, path
