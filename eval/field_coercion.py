"""Field coercion for dataset rows: cells as option lists, gold letters or numbers, ids and items.

Files written by hand or exported from spreadsheets hold numbers where text is expected, NaN for an
empty cell and answers as letters, indices or option texts; these helpers accept each reading that is
unambiguous and reject the rest with a message naming the column.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orch.errors import DatasetError
from orch.items import LETTERS, Item
from orch.nodes.number_answers import normalise_number

__all__ = [
    "check_unique",
    "coerce_answer",
    "coerce_options",
    "coerce_text",
    "is_blank",
    "make_item",
    "require_columns",
]


def coerce_options(row: dict[str, Any], spec: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The row's option texts, from one list column or several cells; None makes it a numeric question."""
    if spec is None:
        return None
    if isinstance(spec, str):
        value, label = row.get(spec), spec
        if isinstance(value, str) and value.strip():
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{spec}: expected a JSON list of option texts, got {value!r}") from None
        if is_blank(value):
            return None
        if not isinstance(value, list | tuple):
            raise ValueError(f"{spec}: expected a list of option texts, got {value!r}")
        texts = [_option_text(v, spec) for v in value]
    else:
        cells, label = [row.get(column) for column in spec], "options"
        while cells and is_blank(cells[-1]):
            cells.pop()
        texts = [_option_text(v, column) for v, column in zip(cells, spec, strict=False)]
    if not texts:
        return None
    if not 2 <= len(texts) <= len(LETTERS):
        raise ValueError(f"{label}: need 2 to {len(LETTERS)} options, got {len(texts)}")
    return tuple(texts)


def _option_text(value: object, column: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and (number := normalise_number(value)):
        return number
    raise ValueError(f"{column}: an option must be non-empty text, got {value!r}")


def coerce_answer(value: object, options: tuple[str, ...] | None) -> str:
    """The gold as a letter (read as letter, 0-based index or option text) or, without options, a number."""
    if is_blank(value):
        raise ValueError("answer: empty")
    if options is None:
        number = normalise_number(value) if isinstance(value, str | int | float) else None
        if number is None:
            raise ValueError(f"answer {value!r} is not a number (a row without options is a numeric question)")
        return number
    letters = LETTERS[: len(options)]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(options):
            return letters[value]
        raise ValueError(f"answer index {value} is out of range 0–{len(options) - 1}")
    text = value.strip() if isinstance(value, str) else None
    readings: list[tuple[str, str]] = []
    if text is not None:
        if len(text) == 1 and text.upper() in letters:
            readings.append(("letter", text.upper()))
        if text.isdigit() and int(text) < len(options):
            readings.append(("0-based index", letters[int(text)]))
        readings += [
            ("option text", letter) for letter, option in zip(letters, options, strict=True) if option.strip() == text
        ]
    if len({letter for _, letter in readings}) == 1:
        return readings[0][1]
    if readings:
        raise ValueError(
            f"answer {value!r} is ambiguous: " + ", ".join(f"as {kind} {letter}" for kind, letter in readings)
        )
    raise ValueError(
        f"answer {value!r} is not a letter A–{letters[-1]}, a 0-based index 0–{len(options) - 1} or an option's text"
    )


def coerce_text(value: object, column: str) -> str:
    """An id or category cell as text; a spreadsheet's integer-valued float reads as the integer."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{column}: expected text or an integer, got {value!r}")


def is_blank(value: object) -> bool:
    """Whether a cell is empty: None, whitespace, NaN (pandas' empty cell) or an empty list."""
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, list | tuple) and not value)
    )


def make_item(path: Path, where: str, **fields: Any) -> Item:
    """An `Item`, with its first validation error reworded to name the file and row."""
    try:
        return Item(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise DatasetError(path, where, f"{location}: {message}" if location else message) from exc


def require_columns(
    path: Path, columns: list[str], wanted: tuple[str, ...], hints: dict[str, str] | None = None
) -> None:
    """Fail on the first wanted column the file lacks, listing those it has."""
    for column in wanted:
        if column not in columns:
            hint = (hints or {}).get(column, "")
            raise DatasetError(path, f"column {column!r}", f"not found; available columns: {columns}{hint}")


def check_unique(path: Path, items: list[Item], wheres: list[str]) -> None:
    """Fail on the first repeated item id, naming both rows."""
    seen: dict[str, str] = {}
    for item, where in zip(items, wheres, strict=True):
        if item.id in seen:
            raise DatasetError(path, where, f"duplicate id {item.id!r} (first at {seen[item.id]})")
        seen[item.id] = where
