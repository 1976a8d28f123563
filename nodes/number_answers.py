"""Number extraction: the final number of a maths answer, canonicalised so gold and prediction
compare as strings.

Only a number the model stated as its answer counts first ("#### 72", "the answer is -3.5"); an
expression without a result ("5 + 3") is no single answer, and the last number in the text is the
weakest rule, named as such in the result.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from orch.nodes.answer_field import Extraction, from_json, no_answer
from orch.nodes.answer_statements import LATEX_TEXT, MARKUP, line_done, statements

__all__ = ["extract_number", "normalise_number"]

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_NUMBER_TOKEN = re.compile(
    rf"""
    [\s{MARKUP}$]* {LATEX_TEXT}
    (?P<sign>[-−+])?\s* (?:\\?[$€£¥]\s*)? (?P<sign2>[-−])?
    (?P<num>{_NUMBER})
    (?P<expr>(?:\s*[-−+*/×÷=]\s*\\?\$?\s*{_NUMBER})*)
    """,
    re.X,
)
_ANY_NUMBER = re.compile(rf"(?<![\w.,])(?P<sign>[-−])?(?:\\?[$€£¥]\s?)?(?P<num>{_NUMBER})")


def _signed(num: str, *signs: str | None) -> str | None:
    negative = any(s in ("-", "−") for s in signs)
    return normalise_number(("-" if negative else "") + num)


def _number_after(text: str, pos: int, whole_line: bool) -> str | None:
    """The number right after an answer key; for "5 + 3 = 8" the result after the last `=`, and
    an expression with no `=` is no single answer."""
    m = _NUMBER_TOKEN.match(text, pos)
    if m is None or (whole_line and not line_done(text, m.end())):
        return None
    expr = m["expr"]
    if not expr:
        return _signed(m["num"], m["sign"], m["sign2"])
    if "=" not in expr:
        return None
    result = _ANY_NUMBER.search(expr, expr.rindex("=") + 1)
    return None if result is None else _signed(result["num"], result["sign"])


def _last_number_statement(text: str) -> str | None:
    numbers = [number for end, line in statements(text) if (number := _number_after(text, end, line))]
    return numbers[-1] if numbers else None


_NUMBER_STRING = re.compile(
    r"""
    (?P<sign>[-−+])?\s* (?:\\?[$€£¥]\s*)? (?P<sign2>[-−])?
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)
    \s*%?
    """,
    re.X,
)


def normalise_number(s: str | int | float) -> str | None:
    """A canonical string for a number, so gold and prediction compare as strings: commas,
    currency, % and trailing zeros go ("1,234.50" → "1234.5", "-0" → "0", "12." → "12").
    None when s is not a single plain number ("3/4", "1e3", "12 apples", "1,23")."""
    if isinstance(s, bool):
        return None
    if isinstance(s, int):
        return str(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            return None
        try:
            value = Decimal(repr(s))
        except InvalidOperation:  # pragma: no cover - repr of a finite float always parses
            return None
    else:
        m = _NUMBER_STRING.fullmatch(s.replace("*", "").replace("`", "").strip())
        if m is None or (m["sign"] and m["sign2"]):
            return None
        value = Decimal(m["num"].replace(",", ""))
        if (m["sign"] or m["sign2"]) in ("-", "−"):
            value = -value
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _read_number(value: object) -> str | None:
    """A JSON answer value as a number: a number, a numeric string, or a string holding exactly one
    number ("18 eggs"); "3 + 15 = 18" holds three and is invalid."""
    if isinstance(value, int | float):  # bool too, which normalise_number rejects
        return normalise_number(value)
    if not isinstance(value, str):
        return None
    direct = normalise_number(value)
    if direct is not None:
        return direct
    found = list(_ANY_NUMBER.finditer(value))
    return _signed(found[0]["num"], found[0]["sign"]) if len(found) == 1 else None


def extract_number(text: str) -> Extraction:
    """The final number of a maths answer: JSON answer field, then the last answer statement
    ("#### 72", "the answer is -3.5", "\\boxed{12}"), then the last number in the text."""
    verdict, fields = from_json(text, _read_number)
    if verdict is not None:
        return verdict
    stated = _last_number_statement(text)
    if stated is not None:
        return Extraction(stated, "answer_line", fields)
    for m in reversed(list(_ANY_NUMBER.finditer(text))):
        number = _signed(m["num"], m["sign"])
        if number is not None:
            return Extraction(number, "last_number", fields)
    return no_answer(fields)
