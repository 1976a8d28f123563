"""Letter extraction: the option a model chose for a multiple-choice question, or none.

Small models open prose with the article "A" and echo the options back, so a letter counts only
from an answer field, a clear answer statement or an output that is nothing but an option label;
a letter outside the question's options is invalid, never clamped to one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orch.nodes.answer_field import Extraction, from_json, no_answer
from orch.nodes.answer_statements import LATEX_TEXT, MARKUP, NOT_A_STATEMENT_BEFORE, line_done, statements

__all__ = ["extract_letter"]

_LETTER_TOKEN = re.compile(
    rf"""
    [\s{MARKUP}]* {LATEX_TEXT} (?:(?i:option|choice|letter)\s*)? [{MARKUP}]*
    (?: \((?P<paren>[A-Za-z])\) | \[(?P<bracket>[A-Za-z])\] | (?P<plain>[A-Za-z]) )
    (?P<close>[{MARKUP}]*)
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


def _letter_after(text: str, pos: int, whole_line: bool) -> str | None:
    """The option letter right after an answer key, upper-cased, or None when what follows is a
    word: "the answer is A cell" uses the article, "the answer is A because" names option A."""
    m = _LETTER_TOKEN.match(text, pos)
    if m is None:
        return None
    letter = m["paren"] or m["bracket"] or m["plain"]
    if whole_line and not line_done(text, m.end()):
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
    keyed = [letter for end, line in statements(text) if (letter := _letter_after(text, end, line))]
    if keyed:
        return keyed[-1]
    claims = [
        m["paren"] or m["plain"]
        for m in _CLAIM.finditer(text)
        if not NOT_A_STATEMENT_BEFORE.search(text, max(0, m.start() - 80), m.start())
    ]
    return claims[-1] if claims else None


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

    verdict, fields = from_json(text, read)
    if verdict is not None:
        return verdict
    stated = _last_letter_statement(text)
    if stated is not None:
        return Extraction(valid[stated], "answer_line", fields) if stated in valid else no_answer(fields)
    bare = _bare_letter(text)
    if bare is not None and bare in valid:
        return Extraction(valid[bare], "bare", fields)
    return no_answer(fields)
