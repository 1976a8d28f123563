"""Answer extraction shared by every node: an answer comes only from an answer field or a clear answer
statement, and invalid output is reported as invalid.

Small local models (135M–1.5B parameters) write messy text: JSON inside code fences, JSON cut off at
max_tokens, prose that opens with the article "A". Guessing an option from such text would hide a
model's failures inside the ensemble's vote, so every rule here is deliberately narrow, a letter
outside the question's options is never clamped to one, and each result names the rule that made it.

The rules live in small modules, re-exported here: `tolerant_json` (the object in messy output),
`answer_field` (the `Extraction` result and the JSON answer field), `answer_statements` ("the answer
is …"), `letter_answers` and `number_answers` (one per question kind).
"""

from __future__ import annotations

from collections.abc import Sequence

from orch.nodes.answer_field import ANSWER_KEYS, Extraction, ExtractionPath
from orch.nodes.letter_answers import extract_letter
from orch.nodes.number_answers import extract_number, normalise_number
from orch.nodes.tolerant_json import parse_json_tolerant

__all__ = [
    "ANSWER_KEYS",
    "Extraction",
    "ExtractionPath",
    "extract",
    "extract_letter",
    "extract_number",
    "normalise_number",
    "parse_json_tolerant",
]


def extract(text: str, letters: Sequence[str] | None) -> Extraction:
    """Extract by question kind: option letters for multiple choice, None for a numeric answer."""
    return extract_number(text) if letters is None else extract_letter(text, letters)
