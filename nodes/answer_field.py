"""The extraction result, and the rule every extractor tries first: the JSON answer field.

Letter and number extraction share it, so "a present but invalid answer field is final" holds for
both question kinds alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Literal, NamedTuple

from orch.nodes.tolerant_json import Parsed, find_object

__all__ = ["ANSWER_KEYS", "Extraction", "ExtractionPath", "from_json", "no_answer"]

ExtractionPath = Literal["json", "json_tolerant", "answer_line", "bare", "last_number", "none"]

ANSWER_KEYS = ("final_answer", "answer", "choice")
"""JSON fields that carry the answer, most specific first; keys match case-insensitively, with
spaces or hyphens read as underscores ("Final Answer")."""


class Extraction(NamedTuple):
    """What a node's output says: the answer (None if there is no valid one), the rule that produced
    it, so callers can weigh or audit weak rules, and whatever JSON fields could be parsed."""

    answer: str | None
    path: ExtractionPath
    fields: dict[str, object]


def _json_fields(text: str) -> tuple[Parsed | None, ExtractionPath]:
    try:
        strict = json.loads(text.strip())
    except (ValueError, RecursionError):
        strict = None
    if isinstance(strict, dict):
        return Parsed(strict, None), "json"
    return find_object(text), "json_tolerant"


def _answer_field(parsed: Parsed) -> tuple[bool, object]:
    """(present, value) of the answer field; a value cut by the end of input counts as absent,
    since `"answer": "B` may have been going to say "Both"."""
    by_name: dict[str, object] = {}
    for key, value in parsed.obj.items():
        if key != parsed.cut_key:
            by_name.setdefault(re.sub(r"[\s-]+", "_", key.strip().lower()), value)
    for name in ANSWER_KEYS:
        if name in by_name:
            return True, by_name[name]
    return False, None


def from_json(text: str, read: Callable[[object], str | None]) -> tuple[Extraction | None, dict[str, object]]:
    """The verdict of the answer field, or None to fall through to text rules, and the fields.

    A present but invalid answer field is final: the model declared that as its answer, and
    reading one out of its reasoning instead would be a guess."""
    parsed, path = _json_fields(text)
    if parsed is None:
        return None, {}
    present, value = _answer_field(parsed)
    if not present:
        return None, parsed.obj
    answer = read(value)
    if answer is None:
        return Extraction(None, "none", parsed.obj), parsed.obj
    return Extraction(answer, path, parsed.obj), parsed.obj


def no_answer(fields: dict[str, object]) -> Extraction:
    """No valid answer, keeping whatever fields were parsed for the record."""
    return Extraction(None, "none", fields)
