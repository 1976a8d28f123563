"""Answer extraction shared by every node: an answer comes only from an answer field or a clear answer
statement, and invalid output is reported as invalid.

Small local models (135M–1.5B parameters) write messy text: JSON inside code fences, JSON cut off at
max_tokens, prose that opens with the article "A". Guessing an option from such text would hide a
model's failures inside the ensemble's vote, so every rule here is deliberately narrow, a letter
outside the question's options is never clamped to one, and each result names the rule that made it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple

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


# --------------------------------------------------------------------------------------------------
# Tolerant JSON
# --------------------------------------------------------------------------------------------------

_MISSING = object()
_WS = " \t\r\n"
_LITERALS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_JSON_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


class _Invalid(Exception):
    """The text at this `{` is not a JSON object: a syntax error before the input ended."""


class _Parsed(NamedTuple):
    obj: dict[str, object]
    cut_key: str | None
    """The top-level key whose value the end of input cut off: its value may be incomplete."""


class _Parser:
    """Recursive descent over text[pos:end] that treats the end of input as a cut, not an error.

    Beyond JSON it accepts what small models write: single quotes, unquoted values (`B`, `True`),
    trailing or missing commas, raw newlines and unescaped quotes inside strings.
    """

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.pos = start
        self.end = end

    def _more(self) -> bool:
        """Skip whitespace; True while input is left."""
        while self.pos < self.end and self.text[self.pos] in _WS:
            self.pos += 1
        return self.pos < self.end

    def object(self) -> tuple[dict[str, object], bool, str | None]:
        """(members, closed, key whose value was cut) for the object at `{`."""
        self.pos += 1
        obj: dict[str, object] = {}
        while True:
            if not self._more():
                return obj, False, None
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return obj, True, None
            if char == ",":
                self.pos += 1
                continue
            if char not in "\"'":
                raise _Invalid
            key, closed = self._string()
            if not closed or not self._more():
                return obj, False, None  # a dangling key has no value to keep
            if self.text[self.pos] != ":":
                raise _Invalid
            self.pos += 1
            value, complete = self._value()
            if value is _MISSING:
                return obj, False, None
            obj[key] = value
            if not complete:
                return obj, False, key
            if not self._more():
                return obj, False, None
            if self.text[self.pos] not in ",}\"'":  # a quote: the comma is missing
                raise _Invalid

    def _array(self) -> tuple[list[object], bool]:
        self.pos += 1
        items: list[object] = []
        while True:
            if not self._more():
                return items, False
            char = self.text[self.pos]
            if char == "]":
                self.pos += 1
                return items, True
            if char == ",":
                self.pos += 1
                continue
            value, complete = self._value()
            if value is _MISSING:
                return items, False
            items.append(value)
            if not complete or not self._more():
                return items, False
            if self.text[self.pos] not in ",]\"'{[":
                raise _Invalid

    def _value(self) -> tuple[object, bool]:
        if not self._more():
            return _MISSING, False
        char = self.text[self.pos]
        if char == "{":
            obj, closed, _ = self.object()
            return obj, closed
        if char == "[":
            return self._array()
        if char in "\"'":
            return self._string()
        return self._bare()

    def _bare(self) -> tuple[object, bool]:
        """An unquoted value up to the next `,`, `}`, `]` or line end: a number, a literal or a word."""
        start = self.pos
        while self.pos < self.end and self.text[self.pos] not in ",}]\r\n":
            self.pos += 1
        token = self.text[start : self.pos].strip()
        complete = self.pos < self.end
        if not token:
            raise _Invalid
        if _JSON_NUMBER.fullmatch(token):
            try:
                number = float(token) if any(c in token for c in ".eE") else int(token)
            except ValueError:  # more digits than int() takes: keep the text
                return token, complete
            return number, complete
        if token in _LITERALS:
            return _LITERALS[token], complete
        if not complete:
            return _MISSING, False  # a word cut mid-way ("tru", "Opt") is not a value
        return token, True

    def _string(self) -> tuple[str, bool]:
        """(text, closed); a string cut by the end of input is closed where it stops."""
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        text, end = self.text, self.end
        while self.pos < end:
            char = text[self.pos]
            if char == "\\":
                if self.pos + 1 >= end:
                    break  # cut inside an escape: drop the backslash
                nxt = text[self.pos + 1]
                if nxt == "u":
                    if self.pos + 6 > end:
                        break  # cut inside \uXXXX
                    digits = text[self.pos + 2 : self.pos + 6]
                    if _HEX4.fullmatch(digits):
                        self._unicode(out, int(digits, 16))
                        continue
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
                continue
            if char == quote and self._closes(self.pos + 1, quote):
                self.pos += 1
                return "".join(out), True
            out.append(char)
            self.pos += 1
        self.pos = end
        return "".join(out), False

    def _unicode(self, out: list[str], code: int) -> None:
        """Append a \\uXXXX escape, joining a surrogate pair so no lone surrogate leaks into fields."""
        self.pos += 6
        low = self.text[self.pos + 2 : self.pos + 6]
        if (
            0xD800 <= code <= 0xDBFF
            and self.text.startswith("\\u", self.pos)
            and self.pos + 6 <= self.end
            and _HEX4.fullmatch(low)
            and 0xDC00 <= int(low, 16) <= 0xDFFF
        ):
            code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
            self.pos += 6
        out.append(chr(code))

    def _closes(self, i: int, quote: str) -> bool:
        """A quote closes its string only where a JSON string could end (or the next key begins,
        its comma missing), so stray quotes and apostrophes inside model prose stay text."""
        while i < self.end and self.text[i] in " \t":
            i += 1
        return i >= self.end or self.text[i] in ",:}]\r\n" or self.text[i] == quote


def _parse_at(text: str, start: int) -> tuple[_Parser, dict[str, object], bool, str | None] | None:
    """Parse the object at text[start]; one left open before a closing code fence ends there."""
    ends = [len(text)]
    fence = text.find("```", start)
    if fence != -1:
        ends.append(fence)
    found = None
    for end in ends:
        parser = _Parser(text, start, end)
        try:
            obj, closed, cut_key = parser.object()
        except (_Invalid, RecursionError):
            continue
        found = parser, obj, closed, cut_key
        if closed:
            break
    return found


def _find_object(text: str) -> _Parsed | None:
    """The last complete object in text or, failing that, the first one cut off by the end of input
    (or by a closing code fence); a lone `{` at the end is prose, not an object."""
    complete: _Parsed | None = None
    cut: _Parsed | None = None
    pos = 0
    while (start := text.find("{", pos)) != -1:
        found = _parse_at(text, start)
        if found is None:
            pos = start + 1  # not an object here; one may still start inside it
            continue
        parser, obj, closed, cut_key = found
        if closed:
            complete = _Parsed(obj, None)
        elif cut is None and text[start + 1 : parser.end].lstrip().startswith(('"', "'")):
            cut = _Parsed(obj, cut_key)  # a cut object counts once its first key has begun
        pos = max(parser.pos, start + 1)
    return complete or cut


def parse_json_tolerant(text: str) -> dict[str, object] | None:
    """Parse the JSON object in a model's output even when it is fenced, wrapped in prose or
    truncated at max_tokens: open strings, arrays and objects are closed and what was complete is
    kept, a dangling key is dropped. None when the text holds no object."""
    parsed = _find_object(text)
    return None if parsed is None else parsed.obj


def _json_fields(text: str) -> tuple[_Parsed | None, ExtractionPath]:
    try:
        strict = json.loads(text.strip())
    except (ValueError, RecursionError):
        strict = None
    if isinstance(strict, dict):
        return _Parsed(strict, None), "json"
    return _find_object(text), "json_tolerant"


def _answer_field(parsed: _Parsed) -> tuple[bool, object]:
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


def _from_json(text: str, read: Callable[[object], str | None]) -> tuple[Extraction | None, dict[str, object]]:
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


# --------------------------------------------------------------------------------------------------
# Answer statements
# --------------------------------------------------------------------------------------------------

_STATEMENT = re.compile(
    r"""
      (?<![A-Za-z])answer(?:\s+to\s+(?:this|the)\s+question)?[*_]*\s*
          (?:[:：=]|\bis\b|\b(?:would|should|must|will)\s+be\b)
          (?:\s+(?:therefore|thus|then|likely|probably|clearly|definitely))?[*_]*[ \t]*[:：]?
    | (?<![A-Za-z])(?:correct|right|best|final)\s+(?:option|choice)[*_]*\s*(?:[:：=]|\bis\b)[*_]*[ \t]*[:：]?
    | \#\#\#\#
    | \\boxed\{
    """,
    re.X | re.I,
)
_LINE_END = re.compile(r"[ \t.!*_`\"')\]}$]*(?:\r?\n|\Z)")
# "the wrong answer is A", "if the answer is A, then…", "whether A is correct": no statement.
_NOT_A_STATEMENT_BEFORE = re.compile(
    r"(?i)\b(?:wrong|incorrect|not|false|if|whether|unless|suppose|assuming)[ \t*_]+"
    r"(?:(?:the|my|our|final|correct|right|best|option|choice)[ \t*_]+)*$"
)
_LATEX_TEXT = r"(?:\\(?:text|textbf|mathrm|mathbf)\{)?"
_MARKUP = "*_`\"'“”‘’"

_LETTER_TOKEN = re.compile(
    rf"""
    [\s{_MARKUP}]* {_LATEX_TEXT} (?:(?i:option|choice|letter)\s*)? [{_MARKUP}]*
    (?: \((?P<paren>[A-Za-z])\) | \[(?P<bracket>[A-Za-z])\] | (?P<plain>[A-Za-z]) )
    (?P<close>[{_MARKUP}]*)
    """,
    re.X,
)
# "B is the correct answer", "Option (C) is correct": a capital "A" before "is" cannot be the article.
_CLAIM = re.compile(
    r"""(?<![\w'’])(?:(?i:option|choice)\s+)?(?:\((?P<paren>[A-Z])\)|(?P<plain>[A-Z]))
        \s+is\s+(?:the\s+)?(?>(?:correct|right|best)\b(?:\s+(?:answer|option|choice)\b)?)(?!\s*\?)""",
    re.X,
)
# Words that can follow an option letter but never the article "A": "the answer is A because…".
_CONNECTIVES = frozenset({"because", "since", "as", "which"})
_ENDS_LETTER = ".,;:!)]}\r\n"  # not "?": "the answer is A?" asks

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_NUMBER_TOKEN = re.compile(
    rf"""
    [\s{_MARKUP}$]* {_LATEX_TEXT}
    (?P<sign>[-−+])?\s* (?:\\?[$€£¥]\s*)? (?P<sign2>[-−])?
    (?P<num>{_NUMBER})
    (?P<expr>(?:\s*[-−+*/×÷=]\s*\\?\$?\s*{_NUMBER})*)
    """,
    re.X,
)
_ANY_NUMBER = re.compile(rf"(?<![\w.,])(?P<sign>[-−])?(?:\\?[$€£¥]\s?)?(?P<num>{_NUMBER})")


def _statements(text: str) -> list[tuple[int, bool]]:
    """(end, whole line) of each answer-statement key in text, in order; "the wrong answer is" and
    "if the answer is" are no keys. A "####" statement must fill its line, so a heading like
    "#### 1. Totals" is none."""
    return [
        (m.end(), m[0] == "####")
        for m in _STATEMENT.finditer(text)
        if not _NOT_A_STATEMENT_BEFORE.search(text, max(0, m.start() - 80), m.start())
    ]


def _line_done(text: str, pos: int) -> bool:
    """Whether only punctuation or markup is left on the line from pos."""
    return _LINE_END.match(text, pos) is not None


def _letter_after(text: str, pos: int, whole_line: bool) -> str | None:
    """The option letter right after an answer key, upper-cased, or None when what follows is a
    word: "the answer is A cell" uses the article, "the answer is A because" names option A."""
    m = _LETTER_TOKEN.match(text, pos)
    if m is None:
        return None
    letter = m["paren"] or m["bracket"] or m["plain"]
    if whole_line and not _line_done(text, m.end()):
        return None
    after = text[m.end() :]
    if m["paren"] or m["bracket"] or m["close"]:
        return None if after[:1].isalnum() else letter.upper()
    if letter == "a":  # lowercase and bare it is the article, even at a cut: "the answer is a"
        return "A" if after[:1] == ")" else None
    if not after:
        return letter.upper()
    if after[0] in _ENDS_LETTER:
        return letter.upper()
    if after[0] not in " \t":
        return None
    rest = after.lstrip(" \t")
    if not rest or rest[0] in "\r\n([-–—":
        return letter.upper()
    word = re.match(r"[A-Za-z]+", rest)
    return letter.upper() if word and word[0].lower() in _CONNECTIVES else None


def _last_letter_statement(text: str) -> str | None:
    """The letter of the last answer statement that names one (any A–Z, validated by the caller).

    A key statement ("the answer is C") outranks a claim ("C is the correct answer"): claims also
    turn up in explanations after the answer ("A is correct only for animals"), so they count only
    when no key statement names a letter."""
    keyed = [letter for end, line in _statements(text) if (letter := _letter_after(text, end, line))]
    if keyed:
        return keyed[-1]
    claims = [
        m["paren"] or m["plain"]
        for m in _CLAIM.finditer(text)
        if not _NOT_A_STATEMENT_BEFORE.search(text, max(0, m.start() - 80), m.start())
    ]
    return claims[-1] if claims else None


def _signed(num: str, *signs: str | None) -> str | None:
    negative = any(s in ("-", "−") for s in signs)
    return normalise_number(("-" if negative else "") + num)


def _number_after(text: str, pos: int, whole_line: bool) -> str | None:
    """The number right after an answer key; for "5 + 3 = 8" the result after the last `=`, and
    an expression with no `=` is no single answer."""
    m = _NUMBER_TOKEN.match(text, pos)
    if m is None or (whole_line and not _line_done(text, m.end())):
        return None
    expr = m["expr"]
    if not expr:
        return _signed(m["num"], m["sign"], m["sign2"])
    if "=" not in expr:
        return None
    result = _ANY_NUMBER.search(expr, expr.rindex("=") + 1)
    return None if result is None else _signed(result["num"], result["sign"])


def _last_number_statement(text: str) -> str | None:
    numbers = [number for end, line in _statements(text) if (number := _number_after(text, end, line))]
    return numbers[-1] if numbers else None


# --------------------------------------------------------------------------------------------------
# Letters
# --------------------------------------------------------------------------------------------------

_LETTER_VALUE = re.compile(
    r"""
    (?:(?i:option|choice|answer|letter)\b\s*[:\-]?\s*)?
    (?: \((?P<paren>[A-Za-z])\) | \[(?P<bracket>[A-Za-z])\] | (?P<plain>[A-Za-z])(?=$|[.):\]]) )
    (?P<rest>.*)
    """,
    re.X | re.S,
)
_OPTION_LABEL = re.compile(r"(?m)^[ \t]*[(\[]?([A-Za-z])(?:[.)\]:][ \t]+\S|[.)\]:]?[ \t]*$)")


def _letter_of(value: str) -> str | None:
    """The letter a short answer names ("B", "b", "(B)", "B.", "B) Paris", "Option B", "**B**"),
    upper-cased; None for anything else ("AB", "A cell", "Paris")."""
    s = value.replace("*", "").replace("`", "").strip().strip("\"'“”‘’ \t")
    m = _LETTER_VALUE.fullmatch(s)
    if m is None:
        return None
    rest = m["rest"]
    if m["plain"]:
        rest = rest[1:]  # the separator the lookahead saw
    if rest and not rest[0].isspace():
        return None
    return (m["paren"] or m["bracket"] or m["plain"]).upper()


def _valid_letters(letters: Sequence[str]) -> dict[str, str]:
    valid: dict[str, str] = {}
    for letter in letters:
        if not (isinstance(letter, str) and len(letter) == 1 and letter.isascii() and letter.isalpha()):
            raise ValueError(f"letters: {letter!r} is not a single letter A–Z")
        valid[letter.upper()] = letter
    return valid


def _bare_letter(text: str) -> str | None:
    """The letter when the whole output is just an option label ("B", "(B)", "B) Paris", "B" then an
    explanation); None when later lines carry other labels, as when a model echoes the options, and
    for a markdown heading ("#### A. Introduction"), which is structure, not a choice."""
    s = text.replace("*", "").replace("`", "").strip()
    first, _, rest = s.partition("\n")
    letter = _letter_of(first)
    if letter is None:
        return None
    if any(label.upper() != letter for label in _OPTION_LABEL.findall(rest)):
        return None
    return letter


def extract_letter(text: str, letters: Sequence[str]) -> Extraction:
    """The option letter a model chose, by the first rule that applies: strict JSON answer field,
    tolerant JSON answer field, last clear answer statement, the whole output being a bare label.

    Prose like "A cell is…" names no option; a letter outside `letters` is invalid, never clamped.
    Raises ValueError when `letters` holds something other than single letters.
    """
    valid = _valid_letters(letters)

    def read(value: object) -> str | None:
        if not isinstance(value, str):
            return None
        letter = _letter_of(value) or _last_letter_statement(value)
        return valid.get(letter) if letter else None

    verdict, fields = _from_json(text, read)
    if verdict is not None:
        return verdict
    stated = _last_letter_statement(text)
    if stated is not None:
        return Extraction(valid[stated], "answer_line", fields) if stated in valid else _none(fields)
    bare = _bare_letter(text)
    if bare is not None and bare in valid:
        return Extraction(valid[bare], "bare", fields)
    return _none(fields)


def _none(fields: dict[str, object]) -> Extraction:
    return Extraction(None, "none", fields)


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------

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
    verdict, fields = _from_json(text, _read_number)
    if verdict is not None:
        return verdict
    stated = _last_number_statement(text)
    if stated is not None:
        return Extraction(stated, "answer_line", fields)
    for m in reversed(list(_ANY_NUMBER.finditer(text))):
        number = _signed(m["num"], m["sign"])
        if number is not None:
            return Extraction(number, "last_number", fields)
    return _none(fields)


def extract(text: str, letters: Sequence[str] | None) -> Extraction:
    """Extract by question kind: option letters for multiple choice, None for a numeric answer."""
    return extract_number(text) if letters is None else extract_letter(text, letters)
