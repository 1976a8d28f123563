"""JSON schemas sent as `response_format`, with token budgets sized to match.

llama.cpp enforces these with a grammar: enums and `maxLength` hold even for a 135M model,
strings are cut at exactly `maxLength`. So every string is bounded, and `max_tokens` is derived
from the same bounds: a reply cannot run out of tokens before its answer field.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from orch.items import Item

__all__ = ["AnalysisBudget", "analysis_schema", "answer_field", "choice_schema", "sub_questions_schema", "tokens_for"]

NUMBER_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"


def tokens_for(chars: int, fields: int) -> int:
    """A safe completion budget for `chars` of free text spread over `fields` JSON fields."""
    return math.ceil(chars / 2.5) + 12 * fields + 24


def answer_field(item: Item) -> dict:
    if item.options is not None:
        return {"type": "string", "enum": list(item.letters)}
    return {"type": "string", "pattern": NUMBER_PATTERN}


class AnalysisBudget(NamedTuple):
    """How `max_chars` of analysis splits into bounded strings, and the tokens to allow."""

    n_points: int
    point_chars: int
    note_chars: int
    max_tokens: int

    @classmethod
    def for_item(cls, item: Item, max_chars: int) -> AnalysisBudget:
        n_points = 3
        if item.options is None:
            point_chars = max_chars // n_points
            return cls(n_points, point_chars, 0, tokens_for(max_chars, n_points + 2))
        n_options = len(item.letters)
        point_chars = max(40, max_chars // 5)
        note_chars = max(30, (max_chars - n_points * point_chars) // n_options)
        text = n_points * point_chars + n_options * note_chars
        return cls(n_points, point_chars, note_chars, tokens_for(text, n_points + n_options + 2))


def analysis_schema(item: Item, budget: AnalysisBudget) -> dict:
    """Key points, per-option notes, then the answer and confidence: reasons before the choice."""
    properties: dict[str, dict] = {
        "key_points": {
            "type": "array",
            "items": {"type": "string", "maxLength": budget.point_chars},
            "minItems": 1,
            "maxItems": budget.n_points,
        },
    }
    if item.options is not None:
        properties["eliminations"] = {
            "type": "object",
            "properties": {letter: {"type": "string", "maxLength": budget.note_chars} for letter in item.letters},
            "required": list(item.letters),
            "additionalProperties": False,
        }
    properties["answer"] = answer_field(item)
    properties["confidence"] = {"type": "integer", "minimum": 0, "maximum": 100}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def choice_schema(item: Item, *, reasoning_chars: int = 0, reasoning_field: str = "reasoning") -> dict:
    """The answer alone (a grammar-enforced enum), optionally after bounded reasoning."""
    properties: dict[str, dict] = {}
    if reasoning_chars:
        properties[reasoning_field] = {"type": "string", "maxLength": reasoning_chars}
    properties["answer"] = answer_field(item)
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def sub_questions_schema(n: int, chars: int) -> dict:
    """Exactly `n` non-empty sub-questions of at most `chars` characters: the dispatcher's reply."""
    questions = {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": chars},
        "minItems": n,
        "maxItems": n,
    }
    return {
        "type": "object",
        "properties": {"sub_questions": questions},
        "required": ["sub_questions"],
        "additionalProperties": False,
    }
