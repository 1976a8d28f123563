"""Answer statements: where in prose a model says its answer ("the answer is", "####", "\\boxed{").

Letters and numbers read what follows such a key differently, but must agree on what a key is: "the
wrong answer is" and "if the answer is" are none, so neither extractor takes a rejected option.
"""

from __future__ import annotations

import re

__all__ = ["LATEX_TEXT", "MARKUP", "NOT_A_STATEMENT_BEFORE", "line_done", "statements"]

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
NOT_A_STATEMENT_BEFORE = re.compile(
    r"(?i)\b(?:wrong|incorrect|not|false|if|whether|unless|suppose|assuming)[ \t*_]+"
    r"(?:(?:the|my|our|final|correct|right|best|option|choice)[ \t*_]+)*$"
)
LATEX_TEXT = r"(?:\\(?:text|textbf|mathrm|mathbf)\{)?"
MARKUP = "*_`\"'“”‘’"


def statements(text: str) -> list[tuple[int, bool]]:
    """(end, whole line) of each answer-statement key in text, in order; "the wrong answer is" and
    "if the answer is" are no keys. A "####" statement must fill its line, so a heading like
    "#### 1. Totals" is none."""
    return [
        (m.end(), m[0] == "####")
        for m in _STATEMENT.finditer(text)
        if not NOT_A_STATEMENT_BEFORE.search(text, max(0, m.start() - 80), m.start())
    ]


def line_done(text: str, pos: int) -> bool:
    """Whether only punctuation or markup is left on the line from pos."""
    return _LINE_END.match(text, pos) is not None
