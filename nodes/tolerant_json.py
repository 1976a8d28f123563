"""Tolerant JSON: the object in a small model's output, even when fenced, wrapped in prose or cut off.

Models of 135M–1.5B parameters rarely write clean JSON: they fence it, quote with apostrophes, leave
values unquoted and stop mid-string at max_tokens. This parser keeps what was complete and reports
which key the end of input cut, so answer extraction can treat a cut answer as absent.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Parsed", "find_object", "parse_json_tolerant"]

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


class Parsed(NamedTuple):
    """An object found in model output, and whether the end of input cut one of its values."""

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


def find_object(text: str) -> Parsed | None:
    """The last complete object in text or, failing that, the first one cut off by the end of input
    (or by a closing code fence); a lone `{` at the end is prose, not an object."""
    complete: Parsed | None = None
    cut: Parsed | None = None
    pos = 0
    while (start := text.find("{", pos)) != -1:
        found = _parse_at(text, start)
        if found is None:
            pos = start + 1  # not an object here; one may still start inside it
            continue
        parser, obj, closed, cut_key = found
        if closed:
            complete = Parsed(obj, None)
        elif cut is None and text[start + 1 : parser.end].lstrip().startswith(('"', "'")):
            cut = Parsed(obj, cut_key)  # a cut object counts once its first key has begun
        pos = max(parser.pos, start + 1)
    return complete or cut


def parse_json_tolerant(text: str) -> dict[str, object] | None:
    """Parse the JSON object in a model's output even when it is fenced, wrapped in prose or
    truncated at max_tokens: open strings, arrays and objects are closed and what was complete is
    kept, a dangling key is dropped. None when the text holds no object."""
    parsed = find_object(text)
    return None if parsed is None else parsed.obj
